"""Template drivers: a saved ``.motion`` template or a built-in preset (landmarks only, no pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .base import Driver, DriverFrame


class TemplateDriver(Driver):
    """A motion template: landmarks only, no pixels (privacy-preserving).

    Args:
        template: the :class:`~headshot.motion.template.MotionTemplate`.
        path: the ``.motion`` file it came from, or ``None``.
        max_frames: play at most this many frames.
        kind: ``"template"``, or ``"preset"`` for a built-in motion made on the source's own face (its
            frame 0 is the source at rest: :attr:`Driver.starts_at_rest`).
    """

    kind = "template"

    def __init__(self, template, path: Path | None = None, max_frames: int | None = None, kind: str = "template"):
        self.template = template
        self.kind = kind
        self.starts_at_rest = kind == "preset"
        self.path = Path(path) if path is not None else None
        self.fps = float(template.fps)
        self.frame_size = tuple(template.frame_size)
        count = len(template.landmarks)
        self.frame_count = min(count, max_frames) if max_frames is not None else count

    @classmethod
    def load(cls, path: Path, max_frames: int | None = None) -> "TemplateDriver":
        from ..motion.template import MotionTemplate

        return cls(MotionTemplate.load(path, max_frames), path, max_frames)

    def __iter__(self) -> Iterator[DriverFrame]:
        present = np.asarray(self.template.present, bool)
        for index in range(self.frame_count):
            landmarks = self.template.landmarks[index] if present[index] else None
            yield DriverFrame(index, index / self.fps, None, landmarks)
