"""Speech to face motion: a phone timeline (and, optionally, prosody) to a :class:`MotionTemplate`.

The mouth comes from :mod:`headshot.speech.coarticulation`; the rest of the face keeps speech from
looking dead, following what is measured on talking faces:

* **head**: a small nod on accented syllables (head movements line up with pitch accents: Graf, Cosatto,
  Strom & Huang, "Visual prosody: facial movements accompanying speech", FG 2002; Munhall et al.,
  "Visual prosody and speech intelligibility: head movement improves auditory speech perception",
  Psychol. Sci. 2004), a new posture for each phrase and a slight drop at its end (head movements mark
  junctures: Hadar et al., "Head movement correlates of juncture and stress at sentence level",
  Language and Speech 1983), and a slow sway;
* **blinks** at pauses and phrase ends (speakers blink at breakpoints of speech: Nakano & Kitazawa,
  "Eyeblink entrainment at breakpoints of speech", Exp. Brain Res. 2010), at least every 2-5 s (about
  26 blinks a minute in conversation: Bentivoglio et al., "Analysis of blink rate patterns in normal
  subjects", Movement Disorders 1997), each ~0.27 s;
* **brows** raised on emphasis (brow raises accompany F0 peaks on focused words: Cavé et al., "About the
  relationship between eyebrow movements and F0 variations", ICSLP 1996; Granström & House, Speech
  Communication 2005).

Accents come from the timeline's stress (eSpeak's ``ˈ``, ARPAbet's ``1``), sharpened by pitch and
energy peaks when :class:`Prosody` is given; without any stress marks, long vowels count as stressed.
Pauses come from ``"_"`` phones (or the prosody's pause mask). Everything random is drawn from one
``seed``.

For a driver video that brings head and eyes while the mouth comes from audio, see :class:`SpeechMouth`
and :func:`apply_mouth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import HeadshotError
from ..motion.pose import decompose
from ..motion.presets import blink_curve, bump, sway
from ..motion.retarget import region_weights
from ..motion.rig import FaceRig, RigCurves, blendshapes, smoothstep
from ..motion.template import MotionTemplate
from .coarticulation import DEFAULT_MOUTH_RANGE, Coarticulation, MouthCurves, frame_count, mouth_curves
from .learned_mouth import combine_mouth
from .timeline import Phone, Speech, led
from .visemes import is_pause, is_vowel, stress_of

MIN_PAUSE = 0.15  # seconds of silence that end a phrase
REST_PAUSE = 0.7
"""Seconds of silence after which a mouth open in the photo shuts (:func:`pause_closure`). Speakers keep
the lips apart through short breaks: shutting them in every phrase break (0.15 s) lowers the lip-sync
correlation of recordings on the dev clips (``animate --audio``'s motion, best-lag r) from 0.53 to 0.48;
from 0.7 s on it raises it a little (0.532 vs 0.524 with no closure at all)."""
MAX_SECONDS = 600.0


@dataclass
class Prosody:
    """Per-frame prosody of the speech, any of the three arrays optional.

    Attributes:
        energy: loudness ``(M,)`` on any monotonic scale (RMS, dB ...): only its ranks within the clip
            matter.
        pitch: fundamental frequency ``(M,)`` in Hz, 0 or NaN where unvoiced.
        pause: ``(M,)`` bool, True where nobody speaks.
        fps: frames per second of these arrays (``None``: the motion's own frame rate).
    """

    energy: np.ndarray | None = None
    pitch: np.ndarray | None = None
    pause: np.ndarray | None = None
    fps: float | None = None

    @classmethod
    def of(cls, value: "Prosody | Mapping[str, np.ndarray] | None") -> "Prosody | None":
        """A :class:`Prosody` from itself, a mapping with the same keys, or ``None``."""
        if value is None or isinstance(value, Prosody):
            return value
        unknown = set(value) - {"energy", "pitch", "pause", "fps"}
        if unknown:
            raise ValueError(f"unknown prosody keys: {', '.join(sorted(unknown))}")
        return cls(**value)

    def resampled(self, frames: int, fps: float) -> "Prosody":
        """The arrays at ``frames`` frames of ``fps`` (nearest earlier/later value held at the ends)."""
        def resample(values, nearest=False):
            if values is None:
                return None
            values = np.asarray(values, np.float64).ravel()
            if len(values) == 0:
                return None
            source_fps = self.fps or fps
            source_times = np.arange(len(values)) / source_fps
            times = np.arange(frames) / fps
            if nearest:
                index = np.clip(np.round(times * source_fps).astype(int), 0, len(values) - 1)
                return values[index]
            finite = np.isfinite(values)
            if not finite.any():
                return np.full(frames, np.nan)
            return np.interp(times, source_times[finite], values[finite])

        pitch = None if self.pitch is None else np.where(np.asarray(self.pitch, np.float64) > 0, self.pitch, np.nan)
        pause = resample(self.pause, nearest=True)
        return Prosody(energy=resample(self.energy), pitch=resample(pitch, nearest=True),
                       pause=None if pause is None else pause.astype(bool), fps=fps)


@dataclass(frozen=True)
class _Syllable:
    start: float
    end: float
    prominence: float  # ~0 unstressed .. 1 stressed .. 2 strongly accented


def _timeline(speech: Speech | Sequence[Phone], alphabet: str | None) -> tuple[list[Phone], str, float, dict]:
    """Phones, alphabet, duration in seconds and metadata of a Speech or a bare phone list."""
    if isinstance(speech, Speech):
        phones, alphabet = list(speech.phones), alphabet or speech.alphabet
        seconds = max(speech.seconds, max((p.end for p in phones), default=0.0))
        info = {"alphabet": alphabet, "language": speech.language, "voice": speech.voice}
    else:
        phones, alphabet = list(speech), alphabet or "ipa"
        seconds = max((p.end for p in phones), default=0.0)
        info = {"alphabet": alphabet}
    info["phones"] = len(phones)
    return sorted(phones, key=lambda p: p.start), alphabet, seconds, info


def _pauses(phones: list[Phone], fps: float, frames: int, prosody: Prosody | None) -> np.ndarray:
    """Per-frame pause mask: silence phones, time not covered by any phone, and the prosody's pauses."""
    times = np.arange(frames) / fps
    speaking = np.zeros(frames, bool)
    for phone in phones:
        if not is_pause(phone.symbol):
            speaking |= (times >= phone.start) & (times < phone.end)
    pause = ~speaking
    if prosody is not None and prosody.pause is not None:
        pause |= prosody.pause
    return pause


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index ranges of the True runs of a bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _zscore(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return np.zeros_like(values)
    spread = np.std(values[finite])
    return np.where(finite, (values - np.mean(values[finite])) / max(spread, 1e-9), 0.0)


def _syllables(phones: list[Phone], alphabet: str, fps: float, prosody: Prosody | None) -> list[_Syllable]:
    """Vowels with a prominence from stress marks (or duration), pitch and energy."""
    vowels = [p for p in phones if not is_pause(p.symbol) and is_vowel(p.symbol, alphabet)]
    if not vowels:
        return []
    stresses = np.array([p.stress or stress_of(p.symbol, alphabet) for p in vowels])
    if stresses.any():
        prominence = np.select([stresses == 1, stresses == 2], [1.0, 0.5], 0.15)
    else:  # no stress marks (e.g. a recogniser without stress digits): long vowels are stressed
        durations = np.array([p.duration for p in vowels])
        prominence = np.clip((durations / max(np.median(durations), 1e-3) - 1.0) / 0.5, 0.0, 1.0)
    if prosody is not None:
        frames = [slice(int(p.start * fps), max(int(p.start * fps) + 1, int(math.ceil(p.end * fps)))) for p in vowels]
        pitch = None if prosody.pitch is None else np.log(np.maximum(prosody.pitch, 1e-9))
        for level, weight in ((pitch, 0.5), (prosody.energy, 0.3)):
            if level is None:
                continue
            peaks = np.array([np.nanmax(level[f]) if np.isfinite(level[f]).any() else np.nan for f in frames])
            prominence = prominence + weight * np.clip(_zscore(peaks), -1.0, 2.0)
    return [_Syllable(p.start, p.end, float(x)) for p, x in zip(vowels, prominence)]


def _head_curves(curves: RigCurves, rng: np.random.Generator, times: np.ndarray, syllables: list[_Syllable],
                 phrases: list[tuple[float, float]]) -> None:
    """Nods on accents, a posture per phrase with a drop at its end, and a slow sway (degrees)."""
    last_nod = -math.inf
    for syllable in syllables:
        # Pitch accents, not every lexical stress: strong accents always, stressed syllables half the time.
        accented = syllable.prominence >= 1.3 or (syllable.prominence >= 0.8 and rng.random() < 0.5)
        if accented and syllable.start - last_nod >= 0.6:
            amplitude = min(2.5, 1.2 * syllable.prominence * rng.uniform(0.7, 1.3))
            curves.pitch += amplitude * bump(times, syllable.start - 0.08, 0.45)
            if rng.random() < 0.3:
                curves.roll += rng.choice((-1.0, 1.0)) * 0.6 * bump(times, syllable.start - 0.08, 0.5)
            last_nod = syllable.start
    posture = np.zeros(3)
    for start, end in phrases:
        new = np.clip(rng.normal(0.0, (1.5, 0.8, 1.2)), -3.0, 3.0)
        ramp = smoothstep((times - (start - 0.3)) / 0.6)
        curves.yaw += (new[0] - posture[0]) * ramp
        curves.pitch += (new[1] - posture[1]) * ramp
        curves.roll += (new[2] - posture[2]) * ramp
        posture = new
        curves.pitch += rng.uniform(0.6, 1.2) * bump(times, end - 0.2, 0.6)  # the head drops as a phrase ends
    curves.yaw += sway(rng, times, 1.0)
    curves.pitch += sway(rng, times, 0.6)
    curves.roll += sway(rng, times, 0.6)
    curves.shift[:, 0] = sway(rng, times, 0.01)
    curves.shift[:, 1] = sway(rng, times, 0.006)


def _blink_onsets(rng: np.random.Generator, seconds: float, breaks: list[float]) -> list[float]:
    """Blink onsets (s): at speech breaks (pause starts, phrase ends) when the last blink is >= 1.2 s
    back, else whenever 2-5 s pass without one (a blink due less than 1.5 s before a break waits for
    it); none in the first 0.4 s (frame 0 stays at rest)."""
    onsets: list[float] = []
    last, due = -math.inf, rng.uniform(1.0, 3.0)
    for candidate in sorted(breaks) + [math.inf]:
        while due < min(candidate - 1.5, seconds - 0.3):
            onsets.append(due)
            last, due = due, due + rng.uniform(2.0, 5.0)
        if candidate < seconds - 0.3 and candidate >= 0.4 and candidate - last >= 1.2 and rng.random() < 0.8:
            onsets.append(candidate)
            last, due = candidate, candidate + rng.uniform(2.0, 5.0)
    return onsets


def _eye_curves(curves: RigCurves, rng: np.random.Generator, times: np.ndarray, seconds: float,
                syllables: list[_Syllable], phrases: list[tuple[float, float]], breaks: list[float]) -> None:
    """Blinks at breaks and brow raises on the strongest accents."""
    curves.blink = blink_curve(times, _blink_onsets(rng, seconds, breaks))
    for start, end in phrases:
        inside = [s for s in syllables if start <= s.start < end and s.prominence >= 0.8]
        for rank, syllable in enumerate(inside):
            # Strong pitch/energy accents always; otherwise sometimes the phrase's first accent.
            if syllable.prominence >= 1.3 or (rank == 0 and rng.random() < 0.5):
                height = rng.uniform(0.35, 0.7) * min(syllable.prominence, 1.5) / 1.2
                curves.brows = np.maximum(curves.brows,
                                          height * bump(times, syllable.start - 0.1, rng.uniform(0.45, 0.7)))
    curves.brows = np.minimum(curves.brows, 1.0)


def pause_closure(pause: np.ndarray, fps: float, ramp: float = 0.1) -> np.ndarray:
    """Per-frame lip closure ``(N,)`` in [0, 1] for the pauses of a pause mask: 1 inside every pause of at
    least :data:`REST_PAUSE`, ramping up and down over ``ramp`` seconds inside it (a pause that lasts to the
    end stays closed); 0 elsewhere."""
    pause = np.asarray(pause, bool)
    out = np.zeros(len(pause))
    steps = max(1, round(ramp * fps))
    for start, stop in _runs(pause):
        if stop - start < REST_PAUSE * fps:
            continue
        index = np.arange(stop - start)
        ramp_down = stop - start - index if stop < len(pause) else np.full(stop - start, steps + 1)
        out[start:stop] = smoothstep(np.minimum(index + 1, ramp_down) / (steps + 1))
    return out


def _mouth_into(curves: RigCurves, mouth: MouthCurves, rig: FaceRig, mouth_range: float,
                expression_scale: float, pause: np.ndarray | None = None) -> None:
    """The mouth channels of ``curves`` from ``mouth`` on ``rig``'s face.

    On a source whose mouth is open at rest the lips cannot close by themselves: a closure (p b m) also
    raises the jaw by :meth:`FaceRig.jaw_to_close` (0 on a shut mouth: such sources are unchanged), in
    step with the gesture, so that the chin comes up with the lower lip. On such a source the lips also
    close in the pauses of ``pause`` (a per-frame mask; :func:`pause_closure`): a speaker rests with the
    mouth shut, whatever the photo caught."""
    curves.jaw = mouth.jaw * rig.jaw_for_opening(mouth_range) * expression_scale
    curves.round = mouth.round * expression_scale
    curves.stretch = mouth.spread * expression_scale
    curves.upper_lip = mouth.upper_lip * expression_scale
    curves.close = mouth.close * min(1.0, expression_scale)
    curves.tuck = mouth.tuck * min(1.0, expression_scale)
    closed_jaw = rig.jaw_to_close()
    if closed_jaw:
        if pause is not None:
            resting = pause_closure(pause, mouth.fps)[:mouth.frames] * min(1.0, expression_scale)
            curves.close[:len(resting)] = np.maximum(curves.close[:len(resting)], resting)
        curves.jaw = curves.jaw + closed_jaw * curves.close


def speech_pauses(phones: Sequence[Phone], fps: float, frames: int, prosody: Prosody | None = None) -> np.ndarray:
    """Per-frame pause mask ``(frames,)`` of a phone timeline (silence phones and uncovered time), and of
    ``prosody``'s pause mask when given (resampled to ``frames`` at ``fps``)."""
    prosody = Prosody.of(prosody)
    if prosody is not None:
        prosody = prosody.resampled(frames, fps)
    return _pauses(list(phones), float(fps), int(frames), prosody)


def speech_curves(speech: Speech | Sequence[Phone], source_landmarks: np.ndarray, fps: float = 25.0, *,
                  alphabet: str | None = None, prosody: Prosody | Mapping | None = None,
                  pose_scale: float = 1.0, expression_scale: float = 1.0,
                  mouth_range: float = DEFAULT_MOUTH_RANGE, seed: int = 0, head: bool = True,
                  eyes: bool = True, params: Coarticulation | None = None, jaw: np.ndarray | None = None,
                  lead: float = 0.0) -> RigCurves:
    """The face-rig curves of :func:`speech_motion` (see there for the arguments), for
    :class:`headshot.motion.rig.FaceRig` on the same source."""
    phones, alphabet, seconds, _ = _timeline(speech, alphabet)
    fps = float(fps)
    frames = frame_count(seconds, fps)
    times = np.arange(frames) / fps
    prosody = Prosody.of(prosody)
    if prosody is not None:
        prosody = prosody.resampled(frames, fps)
    loudness = None
    pause = _pauses(phones, fps, frames, prosody)
    if prosody is not None and prosody.energy is not None and (~pause).any():
        low, high = np.percentile(prosody.energy[~pause], [10, 95])
        loudness = np.clip((prosody.energy - low) / max(high - low, 1e-9), 0.0, 1.0)
    mouth = mouth_curves(led(phones, lead), fps, alphabet=alphabet, frames=frames, loudness=loudness, params=params)
    if jaw is not None:
        mouth = combine_mouth(mouth, jaw)

    rig = FaceRig(source_landmarks)
    curves = RigCurves(frames)
    _mouth_into(curves, mouth, rig, mouth_range, expression_scale, pause)
    rng_head, rng_eyes = (np.random.default_rng([seed, stream]) for stream in (1, 2))
    syllables = _syllables(phones, alphabet, fps, prosody)
    phrases: list[tuple[float, float]] = []
    for start, stop in _runs(~pause):  # join speech runs separated by less than MIN_PAUSE
        if phrases and (start - round(phrases[-1][1] * fps)) < MIN_PAUSE * fps:
            phrases[-1] = (phrases[-1][0], stop / fps)
        else:
            phrases.append((start / fps, stop / fps))
    breaks = [end + 0.05 for _, end in phrases]
    if head and pose_scale:
        _head_curves(curves, rng_head, times, syllables, phrases)
        envelope = smoothstep(times / 0.3)  # frame 0 is the source's own pose
        for name in ("yaw", "pitch", "roll"):
            setattr(curves, name, getattr(curves, name) * envelope * pose_scale)
        curves.shift *= (envelope * pose_scale)[:, None]
    if eyes:
        _eye_curves(curves, rng_eyes, times, seconds, syllables, phrases, breaks)
        curves.brows = curves.brows * expression_scale
    for name in ("jaw", "round", "stretch", "upper_lip", "close", "tuck", "blink", "brows"):
        getattr(curves, name)[0] = 0.0  # frame 0 is the source at rest: the motion's reference
    return curves


def speech_motion(speech: Speech | Sequence[Phone], source_landmarks: np.ndarray, frame_size: tuple[int, int],
                  fps: float = 25.0, *, alphabet: str | None = None, prosody: Prosody | Mapping | None = None,
                  pose_scale: float = 1.0, expression_scale: float = 1.0,
                  mouth_range: float = DEFAULT_MOUTH_RANGE, seed: int = 0, head: bool = True, eyes: bool = True,
                  params: Coarticulation | None = None, jaw: np.ndarray | None = None,
                  lead: float = 0.0) -> MotionTemplate:
    """Face motion for speech, made from the source's own face (like the presets).

    Args:
        speech: a :class:`Speech` (its ``seconds`` and ``alphabet`` are used) or a list of :class:`Phone`
            (then the motion lasts until the last phone ends).
        source_landmarks: ``(478, 3)`` source landmarks, pixels of a frame of ``frame_size``.
        frame_size: ``(width, height)`` of that frame.
        fps: frame rate; the motion has ``ceil(seconds × fps)`` frames, frame i at ``i / fps`` s.
        alphabet: ``"ipa"`` or ``"arpabet"`` (default: the Speech's, or IPA for a phone list).
        prosody: optional :class:`Prosody` (or a mapping with ``energy``, ``pitch``, ``pause``, ``fps``).
        pose_scale: head-motion multiplier (0: the head keeps the source's pose).
        expression_scale: multiplier of mouth and brow motion (lip closures and f/v contacts are
            complete from 1 up, partial below).
        mouth_range: inner-lip gap over inter-ocular distance of an open "a" (before stress and loudness),
            the mouth's range on this face.
        seed: random seed of head motion, blinks and brows (same seed, same motion).
        head: move the head (nods, phrase postures, sway).
        eyes: blink and raise the brows.
        params: coarticulation parameters (:class:`~headshot.speech.coarticulation.Coarticulation`).
        jaw: per-frame jaw opening ``(frames,)`` (1 = an open "a"), the learned model's
            (:func:`headshot.speech.learned_mouth.learned_jaw`), fused with the phones' jaw
            (:func:`headshot.speech.learned_mouth.fuse_jaw`); lip gestures stay the phones'.
        lead: seconds by which the mouth leads the timeline (:func:`headshot.speech.timeline.led`; a
            recording's recognised phones: :data:`headshot.speech.learned_mouth.RECORDING_LEAD`).

    Returns a :class:`MotionTemplate` whose frame 0 is exactly ``source_landmarks`` (use it as the
    relative reference; a timeline that speaks at t = 0 loses that first frame's mouth) and whose
    ``metadata["speech"]`` describes the timeline. Raises :class:`HeadshotError` for an fps outside
    1-120 or speech longer than :data:`MAX_SECONDS`.
    """
    source = np.asarray(source_landmarks, dtype=np.float64)
    if source.shape != (478, 3) or not np.isfinite(source).all():
        raise ValueError(f"source landmarks must be finite (478, 3), got {source.shape}")
    if not (1.0 <= float(fps) <= 120.0):
        raise HeadshotError(f"speech motion fps must be between 1 and 120 (got {fps})")
    _, _, seconds, info = _timeline(speech, alphabet)
    if seconds > MAX_SECONDS:
        raise HeadshotError(f"speech is {seconds:.0f} s long; speech motion is limited to {MAX_SECONDS:.0f} s")
    curves = speech_curves(speech, source, fps, alphabet=alphabet, prosody=prosody, pose_scale=pose_scale,
                           expression_scale=expression_scale, mouth_range=mouth_range, seed=seed,
                           head=head, eyes=eyes, params=params, jaw=jaw, lead=lead)
    metadata = {"creator": "headshot speech", "speech": info, "seed": int(seed), "pose_scale": float(pose_scale),
                "expression_scale": float(expression_scale), "mouth_range": float(mouth_range)}
    return MotionTemplate(fps=fps, frame_size=tuple(frame_size), landmarks=FaceRig(source).landmarks(curves),
                          blendshapes=blendshapes(curves), present=np.ones(curves.frames, bool),
                          metadata=metadata)


class SpeechMouth:
    """The speech mouth on a source face, for motion whose head and eyes come from elsewhere.

    ``--driver clip.mp4 --audio speech.wav``: retarget the driver as usual (its lips may be left out with
    ``RetargetOptions(regions=("pose", "expression", "eyes"))``, but need not be), then pass each target
    frame through :meth:`apply`: the lips region (lips, jaw, chin; :func:`headshot.motion.retarget.
    region_weights`) is reset to the source's own and the speech mouth is put on it, turned with the
    target's head pose.

    Args:
        source_landmarks: ``(478, 3)`` the source's landmarks (the face the targets belong to).
        mouth: per-frame mouth curves (:func:`~headshot.speech.coarticulation.mouth_curves`), computed at
            the driver's frame rate.
        mouth_range, expression_scale: as in :func:`speech_motion`.
        pause: per-frame pause mask (:func:`speech_pauses`): a mouth open in the photo closes in pauses.
    """

    def __init__(self, source_landmarks: np.ndarray, mouth: MouthCurves, *,
                 mouth_range: float = DEFAULT_MOUTH_RANGE, expression_scale: float = 1.0,
                 pause: np.ndarray | None = None):
        self.rig = FaceRig(source_landmarks)
        self.curves = RigCurves(mouth.frames)
        _mouth_into(self.curves, mouth, self.rig, mouth_range, expression_scale, pause)
        self._lips = region_weights()["lips"][:, None]

    def __len__(self) -> int:
        return self.curves.frames

    def offsets(self, index: int) -> np.ndarray:
        """Mouth motion of frame ``index`` as canonical offsets ``(478, 3)`` from the source's canonical
        face (zeros past the end: the mouth rests)."""
        if not 0 <= index < self.curves.frames:
            return np.zeros((478, 3))
        return self.rig.deform(**self.curves.expression(index)) - self.rig.canonical

    def apply(self, target_landmarks: np.ndarray, index: int) -> np.ndarray:
        """``target_landmarks`` ``(478, 3)`` (source pixels) with the mouth of frame ``index``; float32."""
        target = np.asarray(target_landmarks, dtype=np.float64)
        pose, canonical = decompose(target)
        mouth = canonical + self._lips * (self.rig.canonical - canonical) + self.offsets(index)
        return (target + (pose.apply(mouth) - pose.apply(canonical))).astype(np.float32)


def apply_mouth(landmarks_sequence: np.ndarray, source_landmarks: np.ndarray, mouth: MouthCurves, *,
                mouth_range: float = DEFAULT_MOUTH_RANGE, expression_scale: float = 1.0) -> np.ndarray:
    """:meth:`SpeechMouth.apply` on every frame of ``landmarks_sequence`` ``(N, 478, 3)`` (frame i gets the
    mouth of frame i); returns ``(N, 478, 3)`` float32."""
    speech_mouth = SpeechMouth(source_landmarks, mouth, mouth_range=mouth_range, expression_scale=expression_scale)
    return np.stack([speech_mouth.apply(frame, i) for i, frame in enumerate(landmarks_sequence)])
