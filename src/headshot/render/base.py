"""The engine contract: what every renderer answers, and what it declares it can do.

An engine takes a source once and renders it at target landmarks per frame (DESIGN.md). Any class with
the two methods of :class:`Engine` and an ``info`` class attribute (an :class:`EngineInfo`) is an engine;
none inherits from :class:`Engine`, so the warp engine (here), the neural engine (``neural/``, with torch)
and the evaluation baselines (``eval/``) each stay in their own package and import only this module.
Callers read what an engine may do from ``info`` and never probe for attributes. Engines are found by
name in :mod:`headshot.engines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EngineInfo:
    """What an engine is and what it may do, declared once on its class as ``info``.

    Attributes:
        name: its name in :mod:`headshot.engines` (``--engine``).
        description: one line for listings and help.
        uses_driver_pixels: ``render`` uses ``driver_frame`` when it is given (the warp engine copies the
            driver's mouth interior); evaluation scores such an engine with and without driver pixels.
        needs_model: the engine reads a model file (the ``model_path`` option, ``--model``).
        finetunes: the caller can fine-tune it on a person's shots in memory with
            ``headshot.train.finetune.finetune_engine`` (train/ runs the optimisation and hands the engine
            the tuned networks; the engine itself never trains). Evaluation adds a fine-tuned row.
        takes_shots: ``prepare_shots(shots)`` adds more photos of the same person after ``prepare`` (``shots``
            = ``[(crop RGB uint8, landmarks (478, 3) in its pixels), ...]``, cropped like the first):
            ``headshot animate a.jpg b.jpg ...`` and the few-shot protocol's T > 1 rows use them. An
            engine without it takes one photo.
    """

    name: str
    description: str
    uses_driver_pixels: bool = False
    needs_model: bool = False
    finetunes: bool = False
    takes_shots: bool = False


@runtime_checkable
class Engine(Protocol):
    """A renderer: ``prepare`` a source once, then ``render`` it at target landmarks per frame.

    A protocol rather than a base class: engines live in packages with different dependencies and need
    nothing from a parent; ``isinstance(x, Engine)`` checks the three names (tests do, for every
    registered engine).
    """

    info: ClassVar[EngineInfo]

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """Take the source: ``source_crop`` RGB uint8 HWC (square), ``source_landmarks`` MediaPipe
        ``(478, 3)`` in its pixels. Called once before ``render`` (again to change the source)."""

    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """The source with ``target_landmarks`` (``(478, 3)``, source-crop pixels): RGB uint8, the source
        crop's size. ``driver_frame`` (the full driver frame, RGB uint8) and ``driver_landmarks`` (in its
        pixels) are ``None`` when the motion has no pixels (template, preset, evaluation rows without
        them); engines whose ``info.uses_driver_pixels`` is false ignore them."""
