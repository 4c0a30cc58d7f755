"""Motion templates: a driver's facial motion as landmarks only (no pixels), saved as ``.motion`` files.

File format (version 1): a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, read with
``allow_pickle=False`` so loading never runs code) holding

* ``header``: UTF-8 JSON as a ``uint8`` array: ``{"format": "headshot-motion", "version": 1, "fps",
  "frame_size": [w, h], "metadata": {...}}``;
* ``landmarks``: float32 ``(N, 478, 3)``, pixels of the driver frame (x right, y down, z like x);
* ``blendshapes``: float32 ``(N, 52)``, MediaPipe's coefficients in [0, 1];
* ``present``: bool ``(N,)``, whether a face was found in each frame (landmarks of absent frames are
  meaningless, usually zeros).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import HeadshotError, InputError, OutputError

FORMAT_NAME = "headshot-motion"
FORMAT_VERSION = 1
N_LANDMARKS, N_BLENDSHAPES = 478, 52


def _smoothstep(t: np.ndarray | float) -> np.ndarray | float:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class MotionTemplate:
    """A sequence of driver landmarks, one entry per frame.

    Attributes:
        fps: frames per second.
        frame_size: ``(width, height)`` in pixels of the frames the landmarks refer to.
        landmarks: float32 ``(N, 478, 3)`` in those pixels.
        blendshapes: float32 ``(N, 52)`` (zeros if unknown).
        present: bool ``(N,)``: a face was found in the frame.
        metadata: JSON-serialisable dict, e.g. ``driver_sha256``, ``creator``, ``headshot_version``,
            ``preset``.
    """

    fps: float
    frame_size: tuple[int, int]
    landmarks: np.ndarray
    blendshapes: np.ndarray | None = None
    present: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        if self.landmarks.ndim != 3 or self.landmarks.shape[1:] != (N_LANDMARKS, 3):
            raise ValueError(f"landmarks must be (N, 478, 3), got {self.landmarks.shape}")
        count = len(self.landmarks)
        if self.blendshapes is None:
            self.blendshapes = np.zeros((count, N_BLENDSHAPES), np.float32)
        self.blendshapes = np.asarray(self.blendshapes, dtype=np.float32)
        if self.blendshapes.shape != (count, N_BLENDSHAPES):
            raise ValueError(f"blendshapes must be ({count}, 52), got {self.blendshapes.shape}")
        if self.present is None:
            self.present = np.isfinite(self.landmarks).all(axis=(1, 2))
        self.present = np.asarray(self.present, dtype=bool)
        if self.present.shape != (count,):
            raise ValueError(f"present must be ({count},), got {self.present.shape}")
        self.fps = float(self.fps)
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))
        self.metadata = dict(self.metadata or {})

    def __len__(self) -> int:
        return len(self.landmarks)

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self) / self.fps

    # -- files ------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the template to ``path`` (``.motion`` by convention), atomically; returns the path.

        The metadata gets ``headshot_version`` if it has none. Raises :class:`OutputError` if the file
        cannot be written; nothing is left at ``path`` on failure.
        """
        from .. import __version__

        path = Path(path).expanduser().absolute()
        metadata = {"headshot_version": __version__, **self.metadata}
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "fps": self.fps,
                  "frame_size": list(self.frame_size), "metadata": metadata}
        try:
            header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise ValueError(f"template metadata is not JSON-serialisable: {error}") from None
        buffer = io.BytesIO()
        np.savez_compressed(buffer, header=np.frombuffer(header_bytes, np.uint8), landmarks=self.landmarks,
                            blendshapes=self.blendshapes, present=self.present)
        try:
            handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(buffer.getvalue())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except BaseException as error:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            if isinstance(error, OSError):
                raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MotionTemplate":
        """Read a template written by :meth:`save`. Raises :class:`InputError` (one line) if the file is
        missing, not a headshot motion file, of a newer format version, or corrupt."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"motion template not found: {path}")
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path.name} is not a headshot motion file (not an .npz archive)")
        try:
            with np.load(path, allow_pickle=False) as archive:
                missing = {"header", "landmarks", "blendshapes", "present"} - set(archive.files)
                if missing:
                    names = ", ".join(sorted(missing))
                    raise InputError(f"{path.name} is not a headshot motion file (missing {names})")
                header = json.loads(archive["header"].tobytes().decode("utf-8"))
                if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                    raise InputError(f"{path.name} is not a headshot motion file")
                version = header.get("version")
                if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
                    raise InputError(f"{path.name} has motion format version {version!r}; this headshot "
                                     f"reads version {FORMAT_VERSION} (upgrade headshot)")
                template = cls(fps=header["fps"], frame_size=tuple(header["frame_size"]),
                               landmarks=archive["landmarks"], blendshapes=archive["blendshapes"],
                               present=archive["present"], metadata=header.get("metadata") or {})
        except HeadshotError:
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile,
                UnicodeDecodeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"{path.name} is not a valid headshot motion file ({reason})") from None
        if len(template) == 0:
            raise InputError(f"{path.name} holds no frames")
        if not np.isfinite(template.landmarks[template.present]).all():
            raise InputError(f"{path.name} is corrupt (non-finite landmarks)")
        return template

    # -- lost faces -------------------------------------------------------------------------------------
    def fill_missing(self, max_gap_seconds: float = 1.0, ease_seconds: float = 0.3) -> "MotionTemplate":
        """A copy where frames without a face get landmarks (and blendshapes), and ``present`` is all True.

        Gaps of at most ``max_gap_seconds`` between two found frames are interpolated linearly; longer
        gaps hold the last good frame and ease into the next good one over its last ``ease_seconds``.
        Frames before the first face hold the first face, frames after the last hold the last one.
        Raises :class:`HeadshotError` if no frame has a face.
        """
        present = self.present
        if not present.any():
            raise HeadshotError("no face found in any frame of the motion")
        landmarks = self.landmarks.astype(np.float64)
        blendshapes = self.blendshapes.astype(np.float64)
        found = np.flatnonzero(present)
        max_gap = max(1, int(round(max_gap_seconds * self.fps)))
        ease = max(1, int(round(ease_seconds * self.fps)))
        landmarks[: found[0]] = landmarks[found[0]]
        blendshapes[: found[0]] = blendshapes[found[0]]
        landmarks[found[-1] + 1:] = landmarks[found[-1]]
        blendshapes[found[-1] + 1:] = blendshapes[found[-1]]
        for before, after in zip(found[:-1], found[1:]):
            gap = after - before - 1
            if gap == 0:
                continue
            steps = np.arange(1, gap + 1)
            if gap <= max_gap:
                weight = steps / (gap + 1)
            else:  # hold, then ease in over the last `ease` missing frames
                weight = _smoothstep((steps - (gap - ease)) / (ease + 1))
            weight = weight[:, None]
            blendshapes[before + 1:after] = (1 - weight) * blendshapes[before] + weight * blendshapes[after]
            weight = weight[..., None]
            landmarks[before + 1:after] = (1 - weight) * landmarks[before] + weight * landmarks[after]
        return replace(self, landmarks=landmarks.astype(np.float32), blendshapes=blendshapes.astype(np.float32),
                       present=np.ones(len(self), bool), metadata=dict(self.metadata))


class LostFaceFiller:
    """Streaming counterpart of :meth:`MotionTemplate.fill_missing` (no look-ahead).

    Call with each frame's landmarks, or ``None`` when the face is lost: returns the landmarks to use.
    While the face is lost the last good landmarks are held; when it comes back the output eases from
    the held landmarks to the live ones over ``ease_frames`` frames. Returns ``None`` until a face has
    been seen.
    """

    def __init__(self, ease_frames: int = 5):
        self.ease_frames = max(0, int(ease_frames))
        self.reset()

    def reset(self) -> None:
        self._held: np.ndarray | None = None
        self._ease_from: np.ndarray | None = None
        self._ease_step = 0

    def __call__(self, landmarks: np.ndarray | None) -> np.ndarray | None:
        if landmarks is None:
            if self._held is not None and self.ease_frames:
                self._ease_from, self._ease_step = self._held, 0
            return None if self._held is None else self._held.copy()
        landmarks = np.asarray(landmarks)
        output = landmarks
        if self._ease_from is not None:
            self._ease_step += 1
            weight = _smoothstep(self._ease_step / (self.ease_frames + 1))
            output = ((1 - weight) * self._ease_from + weight * landmarks).astype(landmarks.dtype)
            if self._ease_step >= self.ease_frames:
                self._ease_from = None
        self._held = output
        return output.copy()
