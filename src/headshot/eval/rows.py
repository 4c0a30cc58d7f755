"""The rows of an evaluation table: which engines run, and how each is driven.

Every table starts with the two baselines (unmoved source, 5-point similarity warp). An engine that can use
driver pixels gets two rows in self-reenactment and cross-identity: with the driver frame, and from the
pixel-free motion alone (``driver_frame=None``), because in self-reenactment the driver *is* the ground truth.
Few-shot rows are driven by landmarks only, plus a fine-tuned row for engines that can fine-tune.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engines import get_engine
from .baselines import BASELINE_LABELS


@dataclass(frozen=True)
class EngineRow:
    """One row of the results table: an engine and how it is driven.

    Attributes:
        label: the row's name in tables.
        engine: engine name in ``headshot.engines`` (baselines ``source``/``similarity``, ``warp``, ...).
        driver_pixels: pass the driver frame to ``render`` (else ``driver_frame=None``).
        finetune: fine-tune on the shots before rendering (few-shot protocol only).
        finetune_steps: steps of that fine-tuning (``None``: the engine's default).
        baseline: the row is a baseline.
        engine_options: keyword arguments for the engine's constructor, as ``((name, value), ...)``.
    """

    label: str
    engine: str
    driver_pixels: bool = False
    finetune: bool = False
    finetune_steps: int | None = None
    baseline: bool = False
    engine_options: tuple = ()

    def make(self):
        """A fresh engine for this row."""
        return make_engine(self.engine, **dict(self.engine_options))


def make_engine(name: str, **options):
    """A fresh engine by name from ``headshot.engines`` (baselines ``source``, ``similarity``; ``warp``,
    ``neural``, ...); :class:`HeadshotError` for an unknown name."""
    return get_engine(name, **options)


def engine_supports_finetune(engine) -> bool:
    """Whether an engine can be fine-tuned on a person's shots in memory (it declares ``info.finetunes``):
    ``headshot.train.finetune.finetune_engine(engine, shots)`` with ``shots = [(crop RGB uint8, landmarks
    (478, 3) crop pixels), ...]``, called after ``prepare``."""
    return engine.info.finetunes


def engine_supports_shots(engine) -> bool:
    """Whether an engine takes several source images (it declares ``info.takes_shots``): ``prepare_shots(shots)``
    (``shots`` as in :func:`engine_supports_finetune`), called after ``prepare`` with the first shot to add the
    others."""
    return engine.info.takes_shots


def engine_rows(names: list[str], protocol: str, engine_options: dict[str, dict] | None = None,
                finetune_steps: int | None = None) -> list[EngineRow]:
    """The table rows for ``names`` in ``protocol``: baselines first, then each engine; an engine that can
    use driver pixels gets a pixel row and a template row in self-reenactment and cross-identity.
    ``engine_options`` maps an engine name to its constructor's keyword arguments (e.g. a model file);
    ``finetune_steps`` is passed to ``finetune_engine(engine, shots, steps=...)`` of the few-shot fine-tuned rows
    (``None``: the engine's default)."""
    rows = [EngineRow(BASELINE_LABELS[b], b, baseline=True) for b in ("source", "similarity")]
    for name in names:
        if name in BASELINE_LABELS:
            continue
        options = tuple(sorted((engine_options or {}).get(name, {}).items()))
        engine = make_engine(name, **dict(options))
        uses_pixels = engine.info.uses_driver_pixels
        if protocol == "fewshot":
            rows.append(EngineRow(f"{name} (template, no pixels)", name, engine_options=options))
            if engine_supports_finetune(engine):
                rows.append(EngineRow(f"{name} fine-tuned (template, no pixels)", name, finetune=True,
                                      finetune_steps=finetune_steps, engine_options=options))
        elif uses_pixels:
            rows.append(EngineRow(f"{name} (driver pixels)", name, driver_pixels=True, engine_options=options))
            rows.append(EngineRow(f"{name} (template, no pixels)", name, engine_options=options))
        else:
            rows.append(EngineRow(name, name, engine_options=options))
    return rows
