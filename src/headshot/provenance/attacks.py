"""The transformations a watermark must survive (issue #5), for tests and ``benchmarks/watermark_bench.py``.

Every function works on lists of RGB uint8 HWC frames or on files, with PyAV (H.264), OpenCV and Pillow,
so that robustness is measured on the same codecs a user's tools would apply: :func:`write_h264` encodes
the way a plain FFmpeg call does (swscale's conversion, no colour tags), not with headshot's own writer.
Decoding goes through :mod:`headshot.io.video`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Iterator

import av
import cv2
import numpy as np
from PIL import Image

from ..io import video


def read_frames(path: Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Decode up to ``max_frames`` frames of a video as RGB uint8 HWC arrays (every decoded frame once)."""
    return list(iter_frames(path, max_frames))


def iter_frames(path: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB uint8 HWC arrays, one at a time (:mod:`headshot.io.video`)."""
    return video.read_frames(path, max_frames=max_frames, constant_rate=False)


def write_h264(path: Path, frames: Iterable[np.ndarray], fps: int = 25, crf: int = 23,
               preset: str = "veryfast") -> Path:
    """Encode RGB frames as H.264 (yuv420p, even sizes: odd sizes lose their last row/column)."""
    frames = list(frames)
    height, width = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def scale(frames: Iterable[np.ndarray], factor: float = 0.5) -> list[np.ndarray]:
    """Resize every frame by ``factor`` (area interpolation when shrinking, as ffmpeg's default does well)."""
    out = []
    for rgb in frames:
        size = (max(2, round(rgb.shape[1] * factor)), max(2, round(rgb.shape[0] * factor)))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        out.append(cv2.resize(rgb, size, interpolation=interpolation))
    return out


def crop(frames: Iterable[np.ndarray], fraction: float = 0.10) -> list[np.ndarray]:
    """Cut ``fraction`` of the width/height off each side of every frame."""
    out = []
    for rgb in frames:
        height, width = rgb.shape[:2]
        top, left = round(height * fraction), round(width * fraction)
        out.append(np.ascontiguousarray(rgb[top:height - top, left:width - left]))
    return out


def jpeg(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    """Round-trip one frame through JPEG at ``quality`` (Pillow, 4:2:0)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def reencode(frames: list[np.ndarray], workdir: Path, name: str, crf: int = 23) -> list[np.ndarray]:
    """Encode frames as H.264 at ``crf`` into ``workdir/name`` and decode them again."""
    path = write_h264(Path(workdir) / name, frames, crf=crf)
    return read_frames(path)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of the same shape."""
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
