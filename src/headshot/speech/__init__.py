"""Speech: text-to-speech with phoneme timings, phone recognition of recordings, and speech → face motion.

The common currency is :class:`~headshot.speech.timeline.Phone`: a phoneme with its start and end in
seconds. Text-to-speech (``tts``) produces one timeline with the waveform; recognition of a recording
(``recognize``) produces one from audio; ``visemes`` and the speech motion turn a timeline into mouth,
jaw, head and eye motion.
"""
