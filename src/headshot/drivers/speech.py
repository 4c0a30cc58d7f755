"""Speech drivers: the source's own face speaking, from text to speech or from a voice recording.

Two drivers on the :class:`~headshot.drivers.base.Driver` protocol:

* :class:`SpeechDriver` (kind ``speech``): mouth, head and blinks all come from the speech. The motion
  is kept as compact per-frame rig curves (:class:`~headshot.motion.rig.RigCurves`, about 100 bytes a
  frame) and each frame's landmarks are made from them as it is played, so an hour of speech costs about
  10 MB instead of the 516 MB of a materialised landmark template. Frame 0 is the source at rest
  (``starts_at_rest``): the pipeline takes it as the motion reference, as for the presets.
* :class:`SpeechMouthDriver`: another driver (a video, a template) brings head and eyes, the speech
  brings the mouth, put on the retargeted landmarks of every frame through ``mouth``
  (:class:`~headshot.speech.motion.SpeechMouth`).

Both are opened by :func:`headshot.drivers.open_driver` from :class:`TextSpeech` (``headshot say``:
spoken into a WAV file), a ready :class:`SpeechTrack` (phones with the audio file they time), or a
recording (``--audio``: recognised here with :func:`headshot.speech.recognize.recognize_phones`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .base import Driver, DriverFrame

log = logging.getLogger("headshot")


@dataclass
class SpeechTrack:
    """A phone timeline and the audio file it times: what a speech driver plays.

    Attributes:
        speech: the :class:`~headshot.speech.timeline.Speech` (its ``samples`` may be empty; the sound is
            in ``audio_path``). A recogniser's ``metadata["prosody"]`` (a
            :class:`headshot.speech.prosody.Prosody`) is used for loudness, pitch accents and pauses.
        audio_path: the file whose audio the output carries (phone times are seconds from its start).
        path: the user's file to hash into the content credentials (``None`` for a temporary TTS file).
        provenance: facts for the content credentials (voice, language, text or audio hash).
        learned_jaw: fuse the phones' jaw with the learned audio → mouth model's
            (:func:`headshot.speech.learned_mouth.learned_jaw`, :func:`~headshot.speech.learned_mouth.fuse_jaw`):
            for recordings, whose recognised phones are approximate.
        lead: seconds by which the mouth leads the phone timeline (recordings:
            :data:`headshot.speech.learned_mouth.RECORDING_LEAD`).
    """

    speech: object
    audio_path: Path
    path: Path | None = None
    provenance: dict = field(default_factory=dict)
    learned_jaw: bool = False
    lead: float = 0.0

    @property
    def seconds(self) -> float:
        """Length of the speech in seconds."""
        stated = float(self.speech.metadata.get("seconds") or 0.0)
        last = max((phone.end for phone in self.speech.phones), default=0.0)
        return max(stated, self.speech.seconds, last)


@dataclass
class TextSpeech:
    """Text to be spoken: opened into a :class:`SpeechTrack` by :meth:`track` (``headshot say``).

    :func:`headshot.drivers.open_driver` speaks it only after the source photo is analysed, so a photo
    without a face fails before a long text is synthesised.

    Attributes:
        text: what to say.
        wav_path: where the spoken audio is written (a private temporary file the caller removes).
        language, voice, rate: as :func:`headshot.speech.tts.synthesize_stream`.
        progress: ``progress(characters_done, characters_total)`` while speaking.
    """

    text: str
    wav_path: Path
    language: str = "en"
    voice: str | None = None
    rate: float = 1.0
    progress: object = None

    def check(self) -> None:
        """Raise :class:`~headshot.errors.InputError` now for text with nothing to say, an unknown
        language or voice, or a rate out of range (nothing is synthesised)."""
        from ..speech.tts import synthesize_stream

        synthesize_stream(self.text, self.language, self.voice, self.rate)  # checks before the first sentence

    def track(self) -> SpeechTrack:
        """Speak the text into :attr:`wav_path` (sentence by sentence) and return its track."""
        from ..speech.say import speak_to_wav, text_sha256

        speech = speak_to_wav(self.text, self.wav_path, self.language, self.voice, self.rate, self.progress)
        info = {"voice": speech.voice, "language": speech.language, "rate": float(self.rate),
                "text_sha256": text_sha256(self.text), "sentences": speech.metadata["sentences"],
                "seconds": round(float(speech.metadata["seconds"]), 3)}
        return SpeechTrack(speech, Path(self.wav_path), None, {"speech": info})


def recording_track(audio: str | Path, transcript: str | None = None, language: str = "en") -> SpeechTrack:
    """A :class:`SpeechTrack` of a voice recording: phones recognised (or force-aligned to ``transcript``)
    with PocketSphinx, with the recording's prosody. Reads the file chunk by chunk (memory flat in its
    length). Raises :class:`~headshot.errors.InputError` for a missing, empty, corrupt or soundless file."""
    from ..io.files import sha256_file
    from ..speech.learned_mouth import RECORDING_LEAD
    from ..speech.recognize import recognize_phones
    from ..speech.say import text_sha256

    path = Path(audio)
    speech = recognize_phones(path, transcript, language=language, keep_samples=False)
    speech_info = {"audio_sha256": sha256_file(path), "recognition": speech.metadata.get("method"),
                   "language": language, "mouth": "audio2mouth jaw + phone gestures"}
    if transcript is not None:
        speech_info["transcript_sha256"] = text_sha256(transcript)
    return SpeechTrack(speech, path, path, {"speech": speech_info}, learned_jaw=True, lead=RECORDING_LEAD)


def _jaw(track: SpeechTrack, fps: float, frames: int) -> np.ndarray | None:
    """The learned jaw of a recording track (None for text speech, or when the model cannot load)."""
    if not track.learned_jaw:
        return None
    from ..speech.learned_mouth import recording_jaw_or_none

    return recording_jaw_or_none(track.audio_path, fps, frames)


def _prosody(track: SpeechTrack, fps: float, frames: int):
    """The recogniser's prosody per video frame as :class:`headshot.speech.motion.Prosody`, or ``None``."""
    from ..speech.motion import Prosody

    audio = track.speech.metadata.get("prosody")
    if audio is None:
        return None
    per_frame = audio.frames(fps, frames)
    return Prosody(energy=per_frame.loudness, pitch=per_frame.pitch_hz, pause=per_frame.pause, fps=fps)


def speech_rig_curves(track: SpeechTrack, source_landmarks: np.ndarray, fps: float, *, head: bool = True,
                      eyes: bool = True, seed: int = 0):
    """Rig curves (:class:`~headshot.motion.rig.RigCurves`) of the source's face speaking ``track``:
    :func:`headshot.speech.motion.speech_curves` with the track's prosody, covering the whole audio."""
    from ..speech.coarticulation import frame_count
    from ..speech.motion import speech_curves
    from ..speech.timeline import PAUSE, Phone

    speech = track.speech
    seconds = track.seconds
    phones = list(speech.phones)
    if not phones or phones[-1].end < seconds:  # the timeline covers the audio: silence to its end
        phones.append(Phone(PAUSE, phones[-1].end if phones else 0.0, seconds))
    frames = frame_count(seconds, fps)
    return speech_curves(phones, source_landmarks, fps, alphabet=speech.alphabet,
                         prosody=_prosody(track, fps, frames), head=head, eyes=eyes, seed=seed,
                         jaw=_jaw(track, fps, frames), lead=track.lead)


def speech_mouth(track: SpeechTrack, source_landmarks: np.ndarray, fps: float):
    """A :class:`~headshot.speech.motion.SpeechMouth` of ``track`` on the source's face, one mouth per frame
    at ``fps`` (the frame rate of the driver whose mouth it replaces)."""
    from ..speech.coarticulation import frame_count, mouth_curves
    from ..speech.learned_mouth import combine_mouth
    from ..speech.motion import SpeechMouth, speech_pauses
    from ..speech.timeline import led

    frames = frame_count(track.seconds, fps)
    loudness = None
    prosody = _prosody(track, fps, frames)
    if prosody is not None and prosody.energy is not None:
        loudness = np.clip(np.asarray(prosody.energy, np.float64), 0.0, 1.0)
    mouth = mouth_curves(led(track.speech.phones, track.lead), fps, alphabet=track.speech.alphabet, frames=frames,
                         loudness=loudness)
    jaw = _jaw(track, fps, frames)
    if jaw is not None:
        mouth = combine_mouth(mouth, jaw)
    pause = speech_pauses(track.speech.phones, fps, frames, prosody)
    return SpeechMouth(source_landmarks, mouth, pause=pause)


class SpeechDriver(Driver):
    """The source's own face speaking: landmarks made frame by frame from rig curves (no pixels).

    Args:
        curves: :class:`~headshot.motion.rig.RigCurves`, one entry per frame (frame 0 at rest).
        source_landmarks: ``(478, 3)`` the source's landmarks in the pixels of a ``frame_size`` frame.
        frame_size: ``(width, height)`` of that frame (the source crop).
        fps: frames per second of the curves.
        audio_path: the sound the output carries.
        path: a user file hashed into the credentials (the recording), or ``None``.
        max_frames: play at most this many frames.
        provenance: facts for the content credentials.
    """

    kind = "speech"
    measured = False
    starts_at_rest = True

    def __init__(self, curves, source_landmarks: np.ndarray, frame_size: tuple[int, int], fps: float, *,
                 audio_path: Path | None, path: Path | None = None, max_frames: int | None = None,
                 provenance: dict | None = None):
        from ..motion.rig import FaceRig

        self.curves = curves
        self.rig = FaceRig(source_landmarks)
        self.frame_size = tuple(frame_size)
        self.fps = float(fps)
        self.audio_path = Path(audio_path) if audio_path is not None else None
        self.path = Path(path) if path is not None else None
        self.frame_count = curves.frames if max_frames is None else min(curves.frames, int(max_frames))
        self.provenance = dict(provenance or {})
        self.speech = None  # the phone timeline it was made from, when known (from_track)

    @classmethod
    def from_track(cls, track: SpeechTrack, source_landmarks: np.ndarray, frame_size: tuple[int, int],
                   fps: float = 25.0, max_frames: int | None = None) -> "SpeechDriver":
        """The driver of a :class:`SpeechTrack` on the source's face at ``fps``."""
        curves = speech_rig_curves(track, source_landmarks, fps)
        driver = cls(curves, source_landmarks, frame_size, fps, audio_path=track.audio_path, path=track.path,
                     max_frames=max_frames, provenance=track.provenance)
        driver.speech = track.speech
        return driver

    def landmarks(self, index: int) -> np.ndarray:
        """Landmarks ``(478, 3)`` float32 of frame ``index`` in the source frame's pixels."""
        c = self.curves
        face = self.rig.deform(**c.expression(index))
        return self.rig.posed(face, c.yaw[index], c.pitch[index], c.roll[index], c.shift[index]).astype(np.float32)

    def __iter__(self) -> Iterator[DriverFrame]:
        for index in range(self.frame_count):
            yield DriverFrame(index, index / self.fps, None, self.landmarks(index))

    def template(self):
        """The whole motion as a :class:`~headshot.motion.template.MotionTemplate` (``--motion-out``):
        landmarks materialised, about 5.7 kB per frame."""
        from ..motion.rig import RigCurves, blendshapes
        from ..motion.template import MotionTemplate

        count = self.frame_count
        if count > 10 * 60 * self.fps:
            log.warning("saving %.0f minutes of motion: the .motion file holds every frame's landmarks "
                        "(%.0f MB in memory while it is written)", count / self.fps / 60, count * 478 * 12 / 1e6)
        landmarks = np.empty((count, 478, 3), np.float32)
        for index in range(count):
            landmarks[index] = self.landmarks(index)
        kept = RigCurves(count, **{name: getattr(self.curves, name)[:count]
                                   for name in ("jaw", "round", "stretch", "smile", "blink", "brows", "close",
                                                "tuck", "upper_lip", "yaw", "pitch", "roll", "shift")})
        speech = self.provenance.get("speech", {})
        metadata = {"creator": "headshot speech", "speech": {k: v for k, v in speech.items()}}
        return MotionTemplate(fps=self.fps, frame_size=self.frame_size, landmarks=landmarks,
                              blendshapes=blendshapes(kept), present=np.ones(count, bool), metadata=metadata)


class SpeechMouthDriver(Driver):
    """Another driver's head and eyes with a speech mouth: frames and facts of ``inner``, plus ``mouth``.

    The output lasts as long as the recording (``len(mouth)`` frames, at most ``max_frames``) and carries
    its sound. When the recording outlasts ``inner``, the driver's motion is played backwards from its end,
    then forwards again, and so on (back and forth: no jump back to its first pose); its landmarks are kept
    for that (about 6 kB a frame). A recording that ends first leaves the mouth at rest for the rest of the
    driver.
    """

    def __init__(self, inner: Driver, mouth, audio_path: Path, provenance: dict | None = None,
                 max_frames: int | None = None):
        self.inner = inner
        self.mouth = mouth
        self.kind = f"{inner.kind}+speech"
        self.fps = inner.fps
        self.frame_size = inner.frame_size
        self.frame_count = max(inner.frame_count, len(mouth))
        if max_frames is not None:
            self.frame_count = min(self.frame_count, int(max_frames))
        self.has_pixels = inner.has_pixels
        self.still = inner.still
        self.measured = inner.measured
        self.starts_at_rest = inner.starts_at_rest
        self.path = inner.path
        self.audio_path = Path(audio_path)
        self.provenance = {**inner.provenance, **(provenance or {})}

    def __iter__(self) -> Iterator[DriverFrame]:
        played = []  # (landmarks, blendshapes) of the driver's frames, to play them back and forth
        count = 0
        for frame in self.inner:
            if count >= self.frame_count:
                return
            yield frame
            played.append((frame.landmarks, frame.blendshapes))
            count += 1
        if not played or count >= self.frame_count:
            return
        log.info("the recording outlasts the driver (%d frames): its motion plays back and forth for the "
                 "remaining %d frames", len(played), self.frame_count - count)
        period = max(1, 2 * (len(played) - 1))
        while count < self.frame_count:
            step = count % period
            landmarks, blendshapes = played[step if step < len(played) else period - step]
            yield DriverFrame(count, count / self.fps, None, landmarks, blendshapes)
            count += 1

    def landmark_sequence(self, stride: int = 1, limit: int | None = None) -> list[tuple[int, np.ndarray]]:
        return self.inner.landmark_sequence(stride, limit)

    def close(self) -> None:
        self.inner.close()
