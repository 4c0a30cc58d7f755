"""The learned audio → mouth model in the speech motion: how far the jaw opens, frame by frame.

Recognised phones are good at *what* the lips do (closures on p/b/m, the lower lip on the teeth for f/v,
rounding) but a recogniser without a transcript gets many vowels and their timing wrong, and phone
targets cannot know how wide a given speaker opens. The learned model
(:class:`~headshot.speech.audio2mouth.Audio2Mouth`) hears that openness directly. Neither is right alone
(out of fold on the 35 dev clips with audio, best-lag r of the motion's lip gap with the real speaker's:
phones' jaw 0.45, the model's 0.46), and their errors differ, so the speech motion of a recording fuses
the two jaws (:func:`fuse_jaw`; 0.53 with the phone timeline led by :data:`RECORDING_LEAD`) and keeps
the lip gestures of the phones (:func:`combine_mouth`); a closure still shuts the lips whatever the jaw
does.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .coarticulation import DEFAULT_MOUTH_RANGE, MouthCurves

log = logging.getLogger("headshot")

_MODELS: dict = {}

RECORDING_LEAD = 0.08
"""Seconds by which a recording's mouth leads its recognised phone timeline (:func:`headshot.speech.
timeline.led`). Measured on the dev clips: the real lips do what the recognised phones' jaw and closures say 1-2 frames
(40-80 ms) before the recogniser's times; led by 80 ms the fused motion's best-lag r
rises from 0.509 to 0.532 (40 ms: 0.525)."""
LEARNED_WEIGHT = 1.5
"""Weight of the model's jaw against the phones' (each first standardised over the recording) in
:func:`fuse_jaw`. A ridge fit of the real lip gap on both, leaving each fold's identities out, gives the
model about twice the phones' weight; 1, 1.5 and 2 score alike (0.531 / 0.532 / 0.530)."""
REST_PERCENTILE = 25.0
"""The fused curve's level taken as the mouth at rest (:func:`fuse_jaw`): speech rests or closes about a
quarter of the time, so the jaw is zero below this percentile of the recording."""


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


def fuse_jaw(phone_jaw: np.ndarray, jaw: np.ndarray) -> np.ndarray:
    """One jaw curve from the phones' (``phone_jaw``) and the model's (``jaw``; shorter is padded at rest).

    Each is standardised over the recording (mean 0, standard deviation 1; a constant curve counts 0),
    the model's weighted :data:`LEARNED_WEIGHT`, and the sum mapped back to jaw units: its
    :data:`REST_PERCENTILE` level is the mouth at rest (0, nothing below), its 95th percentile the phones'
    own 95th percentile (between 0.5 and 1, an open "a" being 1), so the fused mouth opens as widely as
    phone targets do. A recording in which neither moves gives a jaw at rest.
    """
    phone_jaw = np.asarray(phone_jaw, np.float64)
    learned = np.zeros(len(phone_jaw))
    count = min(len(learned), len(jaw))
    learned[:count] = np.asarray(jaw, np.float64)[:count]
    if not len(phone_jaw):
        return phone_jaw.copy()

    def standard(values: np.ndarray) -> np.ndarray:
        spread = float(values.std())
        return (values - values.mean()) / spread if spread > 1e-9 else np.zeros(len(values))

    fused = standard(phone_jaw) + LEARNED_WEIGHT * standard(learned)
    rest, high = np.percentile(fused, [REST_PERCENTILE, 95.0])
    if high - rest <= 1e-9:
        return np.zeros(len(phone_jaw))
    scale = float(np.clip(np.percentile(phone_jaw, 95.0), 0.5, 1.0))
    return np.maximum(fused - rest, 0.0) / (high - rest) * scale


def combine_mouth(mouth: MouthCurves, jaw: np.ndarray) -> MouthCurves:
    """Phone gestures with the learned jaw: ``mouth`` (from the phones) with its ``jaw`` fused with the
    model's ``jaw`` (:func:`fuse_jaw`; same frames, shorter is padded at rest). Closures, lip-teeth
    contact, rounding, spreading and the upper lip stay the phones'."""
    return MouthCurves(mouth.fps, jaw=fuse_jaw(mouth.jaw, jaw), round=mouth.round, spread=mouth.spread,
                       close=mouth.close, tuck=mouth.tuck, upper_lip=mouth.upper_lip)


def recording_jaw_or_none(audio_path: str | Path, fps: float, frames: int) -> np.ndarray | None:
    """:func:`learned_jaw` of a recording, or None (with a warning) when the model cannot be loaded: the
    speech motion then keeps the phones' jaw."""
    try:
        return learned_jaw(audio_path, fps, frames)
    except ImportError as error:  # torch or safetensors missing from a slim install
        log.warning("audio → mouth model unavailable (%s); the jaw follows the recognised phones", error)
    return None
