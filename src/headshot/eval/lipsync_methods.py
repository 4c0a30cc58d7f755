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
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import HeadshotError
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
        settings: protocol settings the methods read (``audio2mouth_weights``: a weights file, a
            cross-validation run folder whose fold models (or, without them, whose out-of-fold lip-gap
            predictions) are chosen per clip so that no clip is scored by a model that saw its speaker
            (:func:`fold_weights`), or None for the shipped model).
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
        measured: ``build`` gives measured landmarks (the real speaker's), which the pipeline smooths like a
            video driver's; synthetic motion is rendered unsmoothed, as ``animate`` plays speech drivers.
    """

    name: str
    label: str
    kind: str
    build: Callable
    rendered: bool = True
    requires: Callable[[dict], str | None] = lambda settings: None
    description: str = ""
    measured: bool = False

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


def build_phones(clip: ClipSpeech):
    """Recognised phones → :func:`headshot.speech.motion.speech_motion` (default settings, the recogniser's
    prosody)."""
    from ..speech.learned_mouth import RECORDING_LEAD
    from ..speech.motion import speech_motion

    speech = recognised_speech(clip)
    return speech_motion(speech, clip.source_landmarks, clip.frame_size, clip.fps,
                         prosody=_prosody(clip, clip.audio_frames), lead=RECORDING_LEAD)


# --- Learned audio → mouth ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _audio2mouth(weights: str | None):
    from ..speech.learned_mouth import audio2mouth_model

    return audio2mouth_model(weights)


@functools.lru_cache(maxsize=2)
def fold_weights(run_folder: str) -> dict[str, str]:
    """``{clip name: fold weights file}`` of a cross-validation run folder (``folds/fold<k>.safetensors``
    written by :mod:`headshot.train.audio2mouth`, each naming the clips it never saw in its metadata);
    empty when the folder has no fold weights."""
    import json

    from safetensors import safe_open

    index = {}
    for path in sorted((Path(run_folder) / "folds").glob("fold*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for clip in json.loads((handle.metadata() or {}).get("held_out_clips", "[]")):
                index[clip] = str(path)
    return index


def _cv_folder(settings: dict) -> Path | None:
    weights = settings.get("audio2mouth_weights")
    return Path(weights) if weights and Path(weights).is_dir() else None


def _weights(settings: dict, clip_name: str | None = None, shipped: bool = False) -> str | None:
    """The weights a learned row uses: None (the shipped model) for ``shipped`` rows, when no weights are
    set, or for a run folder without fold weights (then only for ``rest``: the lip gap itself comes from
    the run's ``predictions/``, see :func:`learned_curves`); a weights file; or, for a run folder with
    fold weights, the fold model that never saw ``clip_name``."""
    weights = settings.get("audio2mouth_weights")
    if shipped or not weights:
        return None
    folder = _cv_folder(settings)
    if folder is None:
        return str(weights)
    folds = fold_weights(str(folder))
    if not folds:
        if not (folder / "predictions").is_dir():
            raise HeadshotError(f"{folder} has neither folds/ nor predictions/ (an audio2mouth CV run folder)")
        return None
    if clip_name is None:
        return next(iter(folds.values()))
    if clip_name not in folds:
        raise HeadshotError(f"no fold model of {folder} held out {clip_name}")
    return folds[clip_name]


def _requires_audio2mouth(shipped: bool):
    def requires(settings: dict) -> str | None:
        try:
            _audio2mouth(_weights(settings, shipped=shipped))
        except ImportError as error:
            return f"audio → mouth model not importable ({error})"
        except Exception as error:  # missing or mismatched weights: a note, not a crash
            return f"audio → mouth model not loadable ({str(error).splitlines()[0]})"
        return None
    return requires


_needs_audio2mouth = _requires_audio2mouth(False)


def learned_curves(clip: ClipSpeech, shipped: bool = False) -> tuple[dict[str, np.ndarray], object]:
    """The learned model's per-frame curves for the clip's audio and the model (once per clip and model)."""
    key = "learned-shipped" if shipped else "learned"
    if key not in clip.shared:
        model = _audio2mouth(_weights(clip.settings, clip.name, shipped))
        folder = _cv_folder(clip.settings)
        if not shipped and folder is not None and not fold_weights(str(folder)):
            clip.shared[key] = ({"lip_gap": _predicted_gap(folder, clip, model)}, model)
        else:
            curves = model.predict(np.asarray(clip.samples, np.float32), clip.sample_rate, clip.fps)
            clip.shared[key] = ({k: np.asarray(v, np.float64)[:clip.audio_frames] for k, v in curves.items()}, model)
    return clip.shared[key]


def _predicted_gap(folder: Path, clip: ClipSpeech, model) -> np.ndarray:
    """A CV run's out-of-fold lip gap of the clip (``predictions/<clip>.npy``: 25 fps, as long as the video),
    at the clip's audio frames; past its end, the model's closed mouth."""
    path = folder / "predictions" / f"{clip.name}.npy"
    if not path.is_file():
        raise HeadshotError(f"no out-of-fold prediction {path}")
    if abs(clip.fps - 25.0) > 1e-3:
        raise HeadshotError(f"{path.name}: predictions are at 25 fps, the clip at {clip.fps:g}")
    gap = np.asarray(np.load(path), np.float64)[:clip.audio_frames]
    out = np.full(clip.audio_frames, float(dict(zip(model.curves, model.config.rest))["lip_gap"]))
    out[:len(gap)] = gap
    return out


def _learned_jaw(clip: ClipSpeech, shipped: bool = False) -> np.ndarray:
    """The model's jaw (1 = the speech motion's open "a"), as ``animate --audio`` computes it."""
    from ..speech.learned_mouth import jaw_from_curves
    from ..speech.motion import DEFAULT_MOUTH_RANGE

    curves, model = learned_curves(clip, shipped)
    jaw = jaw_from_curves(curves, dict(zip(model.curves, model.config.rest))["lip_gap"], DEFAULT_MOUTH_RANGE)
    out = np.zeros(clip.audio_frames)
    out[:min(len(out), len(jaw))] = jaw[:len(out)]
    return out


def mouth_from_learned(clip: ClipSpeech) -> dict[str, np.ndarray]:
    """The model's curves → rig channels, without phones: ``jaw`` from the lip gap (as ``animate --audio``);
    ``close`` shuts the lips when the predicted gap is under 0.02; rounding, spreading, the lower lip's tuck
    and the upper lip's raise are the model's funnel/pucker, stretch, roll-lower and upper-up blendshapes,
    each above its rest value over its typical range (zero when only the lip gap is known: a CV run's
    out-of-fold predictions)."""
    curves, model = learned_curves(clip)
    rest = dict(zip(model.curves, model.config.rest))
    spread = dict(zip(model.curves, model.config.spread))

    def above_rest(name: str) -> np.ndarray:
        if name not in curves:
            return np.zeros(clip.audio_frames)
        return np.clip((curves[name] - rest[name]) / max(spread[name], 1e-6), 0.0, 1.1)

    return {"jaw": _learned_jaw(clip),
            "close": np.clip((0.02 - curves["lip_gap"]) / 0.02, 0.0, 1.0),
            "round": np.maximum(above_rest("mouthFunnel"), above_rest("mouthPucker")),
            "stretch": above_rest("mouthStretch"), "tuck": above_rest("mouthRollLower"),
            "upper_lip": above_rest("mouthUpperUp")}


def build_learned(clip: ClipSpeech):
    """Learned audio → mouth curves alone on the source's mouth through :func:`mouth_from_learned` (head still)."""
    from ..motion.rig import RigCurves

    mouth = mouth_from_learned(clip)
    curves = RigCurves(clip.audio_frames)
    curves.jaw = mouth.pop("jaw") * _jaw_gain(clip)
    for name, values in mouth.items():
        setattr(curves, name, values)
    return _template(clip, curves, {"creator": "lipsync learned audio2mouth alone"})


def _phones_learned(clip: ClipSpeech, shipped: bool):
    """What ``animate --audio`` makes: :func:`headshot.speech.motion.speech_motion` of the recognised phones
    (lip gestures, head, blinks) with the learned jaw."""
    from ..speech.learned_mouth import RECORDING_LEAD
    from ..speech.motion import speech_motion

    return speech_motion(recognised_speech(clip), clip.source_landmarks, clip.frame_size, clip.fps,
                         prosody=_prosody(clip, clip.audio_frames), jaw=_learned_jaw(clip, shipped),
                         lead=RECORDING_LEAD)


def build_phones_learned(clip: ClipSpeech, shipped: bool = False):
    """Phones for the lip gestures, head and eyes; the learned model for the jaw (``animate --audio``);
    with ``shipped``, the shipped model whatever ``audio2mouth_weights`` says."""
    return _phones_learned(clip, shipped)


def _needs_both(settings: dict) -> str | None:
    return _needs_recognizer(settings) or _needs_audio2mouth(settings)


def _needs_both_shipped(settings: dict) -> str | None:
    return _needs_recognizer(settings) or _requires_audio2mouth(True)(settings)


METHODS: list[LipsyncMethod] = [
    LipsyncMethod("phones", "phones → speech motion", "method", build_phones, requires=_needs_recognizer,
                  description="recognize_phones (PocketSphinx, no transcript) → speech_motion (coarticulation, "
                              "head, blinks; the mouth led by 80 ms) with the recogniser's prosody (loudness, "
                              "pitch, pauses)"),
    LipsyncMethod("learned", "learned audio → mouth alone", "method", build_learned, requires=_needs_audio2mouth,
                  description="Audio2Mouth curves alone → rig (lip gap → jaw, gap < 0.02 → closed lips, "
                              "funnel/pucker → round, ...); head still"),
    LipsyncMethod("phones+learned", "phones + learned jaw (animate --audio)", "method", build_phones_learned,
                  requires=_needs_both,
                  description="what animate --audio does: speech_motion of the recognised phones, the mouth led "
                              "by 80 ms (lip gestures, head, blinks), with the phones' jaw fused with the "
                              "learned lip gap's (fuse_jaw)"),
    LipsyncMethod("phones+learned-shipped", "phones + learned jaw, shipped model (seen in training)", "method",
                  functools.partial(build_phones_learned, shipped=True), requires=_needs_both_shipped,
                  description="as phones + learned jaw, with the shipped weights, which were trained on every "
                              "dev clip but vox2_7312_man_beard's: in-sample, an upper bound"),
    LipsyncMethod("energy", "energy envelope (baseline)", "baseline", build_energy,
                  description="jaw ∝ RMS energy / its 95th percentile (40 ms windows), head still"),
    LipsyncMethod("talk", "talk preset (baseline)", "baseline", build_talk,
                  description="procedural --motion talk, as long as the audio; does not listen to it"),
    LipsyncMethod("real", "real motion → renderer (ceiling)", "ceiling", build_real_motion, measured=True,
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
