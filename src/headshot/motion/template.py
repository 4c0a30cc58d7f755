"""Motion templates: a driver's facial motion as landmarks only (no pixels), saved as ``.motion`` files.

File format (version 1): a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, read with
``allow_pickle=False`` so loading never runs code) holding

* ``header``: UTF-8 JSON as a ``uint8`` array: ``{"format": "headshot-motion", "version": 1, "fps",
  "frame_size": [w, h], "metadata": {...}}``;
* ``landmarks``: float32 ``(N, 478, 3)``, pixels of the driver frame (x right, y down, z like x);
* ``blendshapes``: float32 ``(N, 52)``, MediaPipe's coefficients in [0, 1];
* ``present``: bool ``(N,)``, whether a face was found in each frame (landmarks of absent frames are
  meaningless, usually zeros).

Loading trusts nothing in the file: every entry's declared size (zip directory) and ``.npy`` header
(shape, dtype) are checked before any data is read, the frame count is bounded by ``MAX_FRAMES``, the
frame rate by ``MIN_FPS``..``MAX_FPS``, and ``load(path, max_frames)`` decompresses only the frames it
keeps, so a small file that claims gigabytes of arrays (a zip bomb) is refused or read in part, never
expanded.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..errors import HeadshotError, InputError
from ..io.atomic import atomic_write_bytes

FORMAT_NAME = "headshot-motion"
FORMAT_VERSION = 1
N_LANDMARKS, N_BLENDSHAPES = 478, 52
MIN_FPS, MAX_FPS = 1.0, 1000.0  # what io.video reads and writes
MAX_FRAMES = 432_000  # one hour at 120 fps (2.5 GB of float32 landmarks); longer files are refused unread
MAX_FRAME_SIDE = 32768  # px, either side of the driver frame
_MAX_HEADER_BYTES = 1 << 20  # the JSON header (fps, frame size, metadata)
# array name -> (shape of one frame, accepted .npy dtypes); everything else in the archive is ignored
_ARRAYS = {
    "landmarks": ((N_LANDMARKS, 3), ("<f4", "<f8")),
    "blendshapes": ((N_BLENDSHAPES,), ("<f4", "<f8")),
    "present": ((), ("|b1", "|u1")),
}


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
        if not (MIN_FPS <= self.fps <= MAX_FPS):
            raise ValueError(f"fps must be from {MIN_FPS:g} to {MAX_FPS:g}, got {self.fps}")
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
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, max_frames: int | None = None) -> "MotionTemplate":
        """Read a template written by :meth:`save`; with ``max_frames``, only its first ``max_frames``
        frames (the rest is not decompressed).

        Raises :class:`InputError` (one line) if the file is missing, not a headshot motion file, of a
        newer format version, corrupt, or declares more than ``MAX_FRAMES`` frames or a frame rate outside
        ``MIN_FPS``..``MAX_FPS``. Sizes are checked from the zip directory and the ``.npy`` headers
        before any array is read.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"motion template not found: {path}")
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path.name} is not a headshot motion file (not an .npz archive)")
        try:
            with zipfile.ZipFile(path) as archive:
                entries = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
                missing = ({"header"} | set(_ARRAYS)) - set(entries)
                if missing:
                    names = ", ".join(sorted(missing))
                    raise InputError(f"{path.name} is not a headshot motion file (missing {names})")
                header = _read_header(archive, entries["header"], path.name)
                fps, frame_size, metadata = _checked_header(header, path.name)
                declared = {name: _declared_frames(archive, entries[name], name, path.name) for name in _ARRAYS}
                if len(set(declared.values())) != 1:
                    shown = ", ".join(f"{name} {count}" for name, count in declared.items())
                    raise InputError(f"{path.name} is corrupt (frame counts differ: {shown})")
                arrays = {name: _read_frames(archive, entries[name], name, max_frames) for name in _ARRAYS}
        except HeadshotError:
            raise
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile,
                UnicodeDecodeError, zlib.error, NotImplementedError, RuntimeError) as error:
            # RuntimeError: an encrypted entry; NotImplementedError: an unknown compression method
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"{path.name} is not a valid headshot motion file ({reason})") from None
        if len(arrays["landmarks"]) == 0:
            raise InputError(f"{path.name} holds no frames")
        present = arrays["present"] != 0
        landmarks = arrays["landmarks"].astype(np.float32, copy=False)
        if not np.isfinite(landmarks).all(axis=(1, 2))[present].all():
            raise InputError(f"{path.name} is corrupt (non-finite landmarks)")
        return cls(fps=fps, frame_size=frame_size, landmarks=landmarks, blendshapes=arrays["blendshapes"],
                   present=present, metadata=metadata)

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


def _npy_header(stream, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length (bytes) of the ``.npy`` entry open in ``stream``; its data follows."""
    version = npy_format.read_magic(stream)
    if version == (1, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{name}: unsupported .npy version {version[0]}.{version[1]}")
    if fortran_order:
        raise ValueError(f"{name}: Fortran-ordered array")
    return tuple(shape), dtype, stream.tell()


def _read_exactly(stream, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Read ``shape`` items of ``dtype`` from ``stream`` into a new writable array (no larger buffer)."""
    array = np.empty(shape, dtype)
    view = memoryview(array.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError("truncated array")
        done += got
    return array


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file_name: str) -> dict:
    """The JSON header, after checking its declared size."""
    if info.file_size > _MAX_HEADER_BYTES:
        raise InputError(f"{file_name} is not a valid headshot motion file (header of {info.file_size} bytes)")
    with archive.open(info) as stream:
        shape, dtype, offset = _npy_header(stream, "header")
        if dtype.str != "|u1" or len(shape) != 1 or offset + shape[0] != info.file_size:
            raise ValueError("header: not a byte string")
        data = _read_exactly(stream, dtype, shape)
    return json.loads(data.tobytes().decode("utf-8"))


def _checked_header(header, file_name: str) -> tuple[float, tuple[int, int], dict]:
    """``(fps, (width, height), metadata)`` from a parsed header; :class:`InputError` for a foreign or odd one."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise InputError(f"{file_name} is not a headshot motion file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise InputError(f"{file_name} has motion format version {version!r}; this headshot "
                         f"reads version {FORMAT_VERSION} (upgrade headshot)")
    fps = header.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (MIN_FPS <= fps <= MAX_FPS):
        raise InputError(f"{file_name} has an invalid frame rate {fps!r} (expected {MIN_FPS:g} to {MAX_FPS:g} fps)")
    size = header.get("frame_size")
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= MAX_FRAME_SIDE
                       for side in size)):
        raise InputError(f"{file_name} has an invalid frame size {size!r} (expected [width, height] in pixels)")
    metadata = header.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InputError(f"{file_name} is not a valid headshot motion file (metadata is not a mapping)")
    return float(fps), (size[0], size[1]), metadata


def _declared_frames(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, file_name: str) -> int:
    """Frame count of the array ``name`` from its ``.npy`` header, checked before any data is read: dtype,
    per-frame shape, at most ``MAX_FRAMES`` frames, and a size that matches the zip entry's."""
    frame_shape, dtypes = _ARRAYS[name]
    frame_items = math.prod(frame_shape)
    largest = 4096 + MAX_FRAMES * frame_items * 8  # header allowance + the biggest legal array
    if info.file_size > largest:
        raise InputError(f"{file_name} declares {info.file_size} bytes of {name}: more than {MAX_FRAMES} frames "
                         f"(one hour at 120 fps) are not read")
    with archive.open(info) as stream:
        shape, dtype, offset = _npy_header(stream, name)
    if dtype.str not in dtypes or len(shape) != 1 + len(frame_shape) or shape[1:] != frame_shape:
        raise InputError(f"{file_name} is corrupt ({name} is {dtype.str} {shape}, expected "
                         f"(frames, {', '.join(map(str, frame_shape))}) of {' or '.join(dtypes)})")
    if shape[0] > MAX_FRAMES:
        raise InputError(f"{file_name} declares {shape[0]} frames: more than {MAX_FRAMES} (one hour at 120 fps) "
                         f"are not read")
    if offset + shape[0] * frame_items * dtype.itemsize != info.file_size:
        raise InputError(f"{file_name} is corrupt ({name}: its header and its stored size disagree)")
    return shape[0]


def _read_frames(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, max_frames: int | None) -> np.ndarray:
    """The first ``max_frames`` (all if ``None``) frames of the array ``name``; its header was checked by
    :func:`_declared_frames`, so no more than the declared bytes are decompressed."""
    with archive.open(info) as stream:
        shape, dtype, _ = _npy_header(stream, name)
        keep = shape[0] if max_frames is None else min(shape[0], max_frames)
        return _read_exactly(stream, dtype, (keep, *shape[1:]))


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
