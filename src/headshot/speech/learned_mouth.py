"""The learned audio → mouth model in the speech motion: how far the jaw opens, frame by frame.

Recognised phones are good at *what* the lips do (closures on p/b/m, the lower lip on the teeth for f/v,
rounding) but a recogniser without a transcript gets many vowels and their timing wrong, and phone
targets cannot know how wide a given speaker opens. The learned model
(:class:`~headshot.speech.audio2mouth.Audio2Mouth`) hears that openness directly. The speech motion of a
recording therefore takes its jaw from the model and its lip gestures from the phones
(:func:`combine_mouth`); a closure still shuts the lips whatever the jaw does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .coarticulation import DEFAULT_MOUTH_RANGE, MouthCurves

log = logging.getLogger("headshot")

_MODELS: dict = {}


def audio2mouth_model(weights: str | Path | None = None):
    """The :class:`~headshot.speech.audio2mouth.Audio2Mouth` of ``weights`` (None: the shipped ones),
    loaded once per process."""
    from .audio2mouth import Audio2Mouth

    key = str(weights) if weights else None
    if key not in _MODELS:
        _MODELS[key] = Audio2Mouth.load(Path(weights) if weights else None)
    return _MODELS[key]


def jaw_from_curves(curves: dict[str, np.ndarray], rest_gap: float, mouth_range: float) -> np.ndarray:
    """Jaw opening in the speech motion's units (1 = an open "a" of ``mouth_range``) from the model's curves:
    the predicted lip gap above the average speaker's closed mouth (``rest_gap``), over ``mouth_range``
    (both inner-lip gap / inter-ocular distance)."""
    gap = np.asarray(curves["lip_gap"], np.float64)
    return np.maximum(gap - rest_gap, 0.0) / mouth_range


def learned_jaw(audio: str | Path | np.ndarray, fps: float, frames: int, *, sample_rate: int | None = None,
                mouth_range: float | None = None, weights: str | Path | None = None) -> np.ndarray:
    """The model's jaw opening for a recording, ``(frames,)`` at ``fps`` (1 = an open "a").

    Args:
        audio: a file (any format the audio reader opens; read in chunks, memory flat) or a mono waveform
            (then ``sample_rate`` is needed).
        fps, frames: frame rate and length of the motion (the curve is cut or held at rest to fit).
        mouth_range: the speech motion's open "a" (default :data:`~headshot.speech.motion.DEFAULT_MOUTH_RANGE`).
        weights: a weights file (None: the shipped model).
    """
    model = audio2mouth_model(weights)
    if isinstance(audio, (str, Path)):
        curves = model.predict_file(audio, fps=fps)
    else:
        curves = model.predict(np.asarray(audio, np.float32), int(sample_rate), fps=fps)
    rest_gap = dict(zip(model.curves, model.config.rest))["lip_gap"]
    jaw = jaw_from_curves(curves, rest_gap, mouth_range or DEFAULT_MOUTH_RANGE)
    out = np.zeros(int(frames))
    count = min(len(out), len(jaw))
    out[:count] = jaw[:count]
    return out


def combine_mouth(mouth: MouthCurves, jaw: np.ndarray) -> MouthCurves:
    """Phone gestures with a learned jaw: ``mouth`` (from the phones) with its ``jaw`` replaced by ``jaw``
    (same frames; shorter is padded at rest). Closures, lip-teeth contact, rounding, spreading and the
    upper lip stay the phones'."""
    jaw = np.asarray(jaw, np.float64)
    values = np.zeros(mouth.frames)
    count = min(mouth.frames, len(jaw))
    values[:count] = jaw[:count]
    return MouthCurves(mouth.fps, jaw=values, round=mouth.round, spread=mouth.spread, close=mouth.close,
                       tuck=mouth.tuck, upper_lip=mouth.upper_lip)


def recording_jaw_or_none(audio_path: str | Path, fps: float, frames: int) -> np.ndarray | None:
    """:func:`learned_jaw` of a recording, or None (with a warning) when the model cannot be loaded: the
    speech motion then keeps the phones' jaw."""
    try:
        return learned_jaw(audio_path, fps, frames)
    except ImportError as error:  # torch or safetensors missing from a slim install
        log.warning("audio → mouth model unavailable (%s); the jaw follows the recognised phones", error)
    return None
