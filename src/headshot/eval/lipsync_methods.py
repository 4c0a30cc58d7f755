"""The rows of the lip-sync protocol: ways of turning a clip's audio into face motion, plus baselines and
ceilings.

Each :class:`LipsyncMethod` either builds a :class:`~headshot.motion.template.MotionTemplate` on the
clip's first frame from the clip's audio (rendered and landmarked by the protocol, like any user
output), or gives a lip-gap-like curve directly (``rendered=False``: references that skip the renderer).
Methods whose modules are not there yet (speech recognition, the learned audio → mouth model) say so in
:attr:`LipsyncMethod.unavailable` and are skipped with that note. To add a method, write a
``build(clip) -> MotionTemplate`` and append a :class:`LipsyncMethod` to :data:`METHODS`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .lipsync_metrics import lip_gap

AUDIO_RATE = 16000


@dataclass
class ClipSpeech:
    """One clip with audio, as the methods see it.

    Attributes:
        name: item id.
        samples: the clip's own audio, mono float32 in [-1, 1], :data:`AUDIO_RATE` Hz.
        sample_rate: Hz.
        fps: the clip's frame rate.
        source_landmarks: ``(478, 3)`` landmarks of the first frame (the source), its pixels.
        frame_size: ``(width, height)`` of the clip's frames.
        real_landmarks: ``(N, 478, 3)`` the speaker's tracked landmarks (zeros where ``real_present`` is
            False), for the ceiling rows only; methods driven by audio must not read them.
        real_present: ``(N,)`` bool.
        real_blendshapes: ``(N, 52)`` MediaPipe blendshapes of the real frames.
        settings: protocol settings the methods read (``audio2mouth_weights``: a weights file, or None
            for the shipped model).
        shared: results one method computes and another reuses (the recognised phones).
    """

    name: str
    samples: np.ndarray
    sample_rate: int
    fps: float
    source_landmarks: np.ndarray
    frame_size: tuple[int, int]
    real_landmarks: np.ndarray
    real_present: np.ndarray
    real_blendshapes: np.ndarray
    settings: dict = field(default_factory=dict)
    shared: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def audio_frames(self) -> int:
        """Video frames that cover the audio: ``ceil(seconds × fps)``."""
        return max(1, math.ceil(round(self.seconds * self.fps, 6)))


@dataclass(frozen=True)
class LipsyncMethod:
    """One row of the lip-sync table.

    Attributes:
        name: short key (``--lipsync-methods``, cache folders, CSV).
        label: the row's name in tables.
        kind: ``method`` (audio → motion), ``baseline`` or ``ceiling``.
        build: ``clip -> MotionTemplate`` (rendered rows) or ``clip -> curve (N,)`` (``rendered=False``).
        rendered: whether ``build``'s template goes through the renderer and landmarker.
        requires: ``settings -> str | None``: why the method cannot run here (a missing module or
            model), or None; ``settings`` as :attr:`ClipSpeech.settings`.
        description: one line for the results' notes.
    """

    name: str
    label: str
    kind: str
    build: Callable
    rendered: bool = True
    requires: Callable[[dict], str | None] = lambda settings: None
    description: str = ""

    def unavailable(self, settings: dict | None = None) -> str | None:
        return self.requires(settings or {})


# --- Audio ----------------------------------------------------------------------------------------------

def energy_envelope(samples: np.ndarray, frames: int, sample_rate: int = AUDIO_RATE, fps: float = 25.0) -> np.ndarray:
    """RMS of the waveform in a window of one frame period (40 ms at 25 fps) centred on each video frame
    (frame ``i`` at ``i / fps`` s); ``(frames,)``. Zeros outside the recording."""
    hop = int(round(sample_rate / fps))
    padded = np.zeros(frames * hop + hop, np.float32)
    length = min(len(samples), frames * hop + hop // 2)
    padded[hop // 2:hop // 2 + length] = np.asarray(samples, np.float32)[:length]
    return np.sqrt((padded[:frames * hop].reshape(frames, hop).astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def normalised_energy(samples: np.ndarray, frames: int, sample_rate: int = AUDIO_RATE, fps: float = 25.0) -> np.ndarray:
    """:func:`energy_envelope` over its 95th percentile, clipped to [0, 1]: 1 = the clip's loud speech."""
    envelope = energy_envelope(samples, frames, sample_rate, fps)
    return np.clip(envelope / max(float(np.percentile(envelope, 95.0)), 1e-9), 0.0, 1.0)


# --- Building templates from rig curves -----------------------------------------------------------------

def _template(clip: ClipSpeech, curves, metadata: dict):
    from ..motion.rig import FaceRig, blendshapes
    from ..motion.template import MotionTemplate

    for name in ("jaw", "round", "stretch", "upper_lip", "close", "tuck"):
        getattr(curves, name)[0] = 0.0  # frame 0 is the source at rest: the relative reference
    rig = FaceRig(clip.source_landmarks)
    return MotionTemplate(fps=clip.fps, frame_size=tuple(clip.frame_size), landmarks=rig.landmarks(curves),
                          blendshapes=blendshapes(curves), present=np.ones(curves.frames, bool), metadata=metadata)


def _jaw_gain(clip: ClipSpeech) -> float:
    """Jaw coefficient of an open "a" on this source (speech motion's default mouth range)."""
    from ..motion.rig import FaceRig
    from ..speech.motion import DEFAULT_MOUTH_RANGE

    return FaceRig(clip.source_landmarks).jaw_for_opening(DEFAULT_MOUTH_RANGE)


def build_energy(clip: ClipSpeech):
    """Baseline: jaw opening proportional to the normalised RMS energy (1 = an open "a"); nothing else moves."""
    from ..motion.rig import RigCurves

    curves = RigCurves(clip.audio_frames)
    curves.jaw = normalised_energy(clip.samples, clip.audio_frames, clip.sample_rate, clip.fps) * _jaw_gain(clip)
    return _template(clip, curves, {"creator": "lipsync energy baseline"})


def build_talk(clip: ClipSpeech):
    """Baseline: the procedural ``talk`` preset, as long as the audio (it does not listen to it)."""
    from ..motion.presets import preset

    return preset("talk", clip.source_landmarks, clip.frame_size, clip.fps, seconds=clip.seconds, seed=0)


def build_real_motion(clip: ClipSpeech):
    """Ceiling: the speaker's own tracked landmarks drive the renderer (what rendering + landmarking
    keep of a perfect motion)."""
    from ..motion.template import MotionTemplate

    return MotionTemplate(fps=clip.fps, frame_size=tuple(clip.frame_size), landmarks=clip.real_landmarks,
                          blendshapes=clip.real_blendshapes, present=clip.real_present,
                          metadata={"creator": "lipsync real-motion ceiling"})


def real_jaw_open(clip: ClipSpeech) -> np.ndarray:
    """Ceiling without rendering: MediaPipe's ``jawOpen`` blendshape of the real frames."""
    from ..motion.rig import BLENDSHAPE

    curve = clip.real_blendshapes[:, BLENDSHAPE["jawOpen"]].astype(np.float64)
    return np.where(clip.real_present, curve, np.nan)


def energy_curve(clip: ClipSpeech) -> np.ndarray:
    """Reference without rendering: the RMS energy envelope itself, as a curve."""
    return energy_envelope(clip.samples, clip.audio_frames, clip.sample_rate, clip.fps)


# --- Phones (speech recognition → speech motion) --------------------------------------------------------

def _needs_recognizer(settings: dict) -> str | None:
    try:
        from ..speech.recognize import recognize_phones  # noqa: F401
    except ImportError as error:
        return f"speech recognition not available (headshot.speech.recognize: {error})"
    return None


def recognised_speech(clip: ClipSpeech):
    """The clip's phones from its audio (ARPAbet, PocketSphinx, no transcript); computed once per clip."""
    if "speech" not in clip.shared:
        from ..speech.recognize import recognize_phones

        clip.shared["speech"] = recognize_phones(np.asarray(clip.samples, np.float32), sample_rate=clip.sample_rate)
    return clip.shared["speech"]


def _prosody(clip: ClipSpeech, frames: int):
    """Prosody for the speech motion: the recogniser's (``metadata["prosody"]``: loudness, pitch, pauses per
    video frame), or the RMS envelope as loudness when the timeline has none."""
    from ..speech.motion import Prosody

    audio = recognised_speech(clip).metadata.get("prosody")
    if audio is None:
        return Prosody(energy=energy_envelope(clip.samples, frames, clip.sample_rate, clip.fps), fps=clip.fps)
    per_frame = audio.frames(clip.fps, frames)
    return Prosody(energy=per_frame.loudness, pitch=per_frame.pitch_hz, pause=per_frame.pause, fps=clip.fps)


def _phone_curves(clip: ClipSpeech):
    from ..speech.motion import speech_curves

    speech = recognised_speech(clip)
    frames = clip.audio_frames
    return speech, speech_curves(speech, clip.source_landmarks, clip.fps, prosody=_prosody(clip, frames))


def build_phones(clip: ClipSpeech):
    """Recognised phones → :func:`headshot.speech.motion.speech_motion` (default settings, the recogniser's
    prosody)."""
    from ..speech.motion import speech_motion

    speech = recognised_speech(clip)
    return speech_motion(speech, clip.source_landmarks, clip.frame_size, clip.fps,
                         prosody=_prosody(clip, clip.audio_frames))


# --- Learned audio → mouth ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _audio2mouth(weights: str | None):
    from pathlib import Path

    from ..speech.audio2mouth import Audio2Mouth

    return Audio2Mouth.load(Path(weights) if weights else None)


def _weights(settings: dict) -> str | None:
    weights = settings.get("audio2mouth_weights")
    return str(weights) if weights else None


def _needs_audio2mouth(settings: dict) -> str | None:
    try:
        _audio2mouth(_weights(settings))
    except ImportError as error:
        return f"audio → mouth model not importable ({error})"
    except Exception as error:  # missing or mismatched weights: a note, not a crash
        return f"audio → mouth model not loadable ({str(error).splitlines()[0]})"
    return None


def learned_curves(clip: ClipSpeech) -> dict[str, np.ndarray]:
    """The learned model's per-frame curves for the clip's audio (computed once per clip)."""
    if "learned" not in clip.shared:
        model = _audio2mouth(_weights(clip.settings))
        curves = model.predict(np.asarray(clip.samples, np.float32), clip.sample_rate, clip.fps)
        clip.shared["learned"] = {k: np.asarray(v, np.float64)[:clip.audio_frames] for k, v in curves.items()}
    return clip.shared["learned"]


def mouth_from_learned(clip: ClipSpeech) -> dict[str, np.ndarray]:
    """Adapter (ours, until speech motion takes the model's curves itself): the model's curves → rig
    channels. ``jaw`` puts the predicted lip gap above the model's closed mouth on the source's own
    mouth (``lip_gap / mouth range`` of an open "a" gives jaw 1); ``close`` shuts the lips when the
    predicted gap is under 0.02; rounding, spreading, the lower lip's tuck and the upper lip's raise are
    the model's funnel/pucker, stretch, roll-lower and upper-up blendshapes, each above its rest value over
    its typical range."""
    from ..speech.motion import DEFAULT_MOUTH_RANGE

    curves = learned_curves(clip)
    model = _audio2mouth(_weights(clip.settings))
    rest = dict(zip(model.curves, model.config.rest))
    spread = dict(zip(model.curves, model.config.spread))

    def above_rest(name: str) -> np.ndarray:
        if name not in curves:
            return np.zeros(clip.audio_frames)
        return np.clip((curves[name] - rest[name]) / max(spread[name], 1e-6), 0.0, 1.1)

    gap = np.maximum(curves["lip_gap"] - rest.get("lip_gap", 0.0), 0.0)
    return {"jaw": gap / DEFAULT_MOUTH_RANGE,
            "close": np.clip((0.02 - curves["lip_gap"]) / 0.02, 0.0, 1.0),
            "round": np.maximum(above_rest("mouthFunnel"), above_rest("mouthPucker")),
            "stretch": above_rest("mouthStretch"), "tuck": above_rest("mouthRollLower"),
            "upper_lip": above_rest("mouthUpperUp")}


def build_learned(clip: ClipSpeech):
    """Learned audio → mouth curves on the source's mouth through :func:`mouth_from_learned` (head still)."""
    from ..motion.rig import RigCurves

    mouth = mouth_from_learned(clip)
    curves = RigCurves(clip.audio_frames)
    curves.jaw = mouth.pop("jaw") * _jaw_gain(clip)
    for name, values in mouth.items():
        setattr(curves, name, values)
    return _template(clip, curves, {"creator": "lipsync learned audio2mouth (adapter)"})


def build_phones_learned(clip: ClipSpeech):
    """Phones for timing-critical lip gestures (closures, lip-teeth contact, rounding) and head/eyes;
    the learned model for how far the jaw opens."""
    _, curves = _phone_curves(clip)
    mouth = mouth_from_learned(clip)
    count = min(curves.frames, len(mouth["jaw"]))
    curves.jaw[:count] = mouth["jaw"][:count] * _jaw_gain(clip)
    return _template(clip, curves, {"creator": "lipsync phones + learned jaw"})


def _needs_both(settings: dict) -> str | None:
    return _needs_recognizer(settings) or _needs_audio2mouth(settings)


METHODS: list[LipsyncMethod] = [
    LipsyncMethod("phones", "phones → speech motion", "method", build_phones, requires=_needs_recognizer,
                  description="recognize_phones (PocketSphinx, no transcript) → speech_motion (coarticulation, "
                              "head, blinks) with the recogniser's prosody (loudness, pitch, pauses)"),
    LipsyncMethod("learned", "learned audio → mouth", "method", build_learned, requires=_needs_audio2mouth,
                  description="Audio2Mouth curves → rig through this protocol's adapter (lip gap → jaw, "
                              "funnel/pucker → round, ...); head still"),
    LipsyncMethod("phones+learned", "phones + learned jaw", "method", build_phones_learned, requires=_needs_both,
                  description="speech_motion of the phones with its jaw replaced by the learned lip gap"),
    LipsyncMethod("energy", "energy envelope (baseline)", "baseline", build_energy,
                  description="jaw ∝ RMS energy / its 95th percentile (40 ms windows), head still"),
    LipsyncMethod("talk", "talk preset (baseline)", "baseline", build_talk,
                  description="procedural --motion talk, as long as the audio; does not listen to it"),
    LipsyncMethod("real", "real motion → renderer (ceiling)", "ceiling", build_real_motion,
                  description="the speaker's own tracked landmarks as the driver: what rendering and "
                              "landmarking keep of a perfect motion"),
    LipsyncMethod("energy-curve", "energy envelope, not rendered", "baseline", energy_curve, rendered=False,
                  description="the RMS envelope itself against the real lip gap (no face, no renderer)"),
    LipsyncMethod("jawOpen", "real jawOpen, not rendered (ceiling)", "ceiling", real_jaw_open, rendered=False,
                  description="MediaPipe's jawOpen blendshape of the real frames against their lip gap"),
]


def choose_methods(names: list[str] | None, settings: dict | None = None) -> tuple[list[LipsyncMethod], dict[str, str]]:
    """The methods to run (all when ``names`` is None or ``["all"]``) and ``{name: note}`` for those skipped
    because they cannot run here. Unknown names raise :class:`HeadshotError`."""
    from ..errors import HeadshotError

    known = {method.name: method for method in METHODS}
    if not names or names == ["all"]:
        wanted = list(known)
    else:
        unknown = [name for name in names if name not in known]
        if unknown:
            raise HeadshotError(f"unknown lipsync method {unknown[0]!r}; choose from {', '.join(known)}")
        wanted = names
    chosen, skipped = [], {}
    for name in wanted:
        reason = known[name].unavailable(settings)
        if reason:
            skipped[name] = reason
        else:
            chosen.append(known[name])
    return chosen, skipped


def template_gap(template) -> np.ndarray:
    """Lip gap of a template's own landmarks (the motion as intended, before rendering)."""
    gaps = lip_gap(template.landmarks)
    return np.where(np.asarray(template.present, bool), gaps, np.nan)
