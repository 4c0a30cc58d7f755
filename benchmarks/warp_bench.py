"""Speed of the warp engine on one CPU core: prepare and per-frame render at 256 and 512 px.

Source = the frame of a dev clip whose mouth is most closed; targets = the real landmarks of the next
frames (median over >= 50 frames), rendered without driver pixels (synthetic mouth interior) and with
them (driver's mouth interior). Usage: ``python benchmarks/warp_bench.py [clip.mp4] [--frames N]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from headshot.face import FaceAnalyzer  # noqa: E402
from headshot.io.video import VideoReader  # noqa: E402
from headshot.render.mouth import mouth_opening  # noqa: E402
from headshot.render.warp import WarpEngine  # noqa: E402

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"
DEFAULT_CLIP = DEV / "videos" / "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"


def load(clip: Path, count: int, size: int):
    """Square face crops (``size`` px, one box from the first frame) and their landmarks."""
    with VideoReader(clip, max_frames=count, constant_rate=False) as reader:
        frames = [frame.rgb for frame in reader]
    with FaceAnalyzer() as analyzer:
        first = analyzer.detect_one(frames[0]).landmarks
    low, high = first[:, :2].min(0), first[:, :2].max(0)
    centre, side = (low + high) / 2, float((high - low).max()) * 1.8
    k = size / side
    matrix = np.array([[k, 0, size / 2 - k * centre[0]], [0, k, size / 2 - k * centre[1]]], np.float32)
    crops = [cv2.warpAffine(f, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
             for f in frames]
    with FaceAnalyzer(video=True) as analyzer:
        landmarks = [analyzer.detect_one(c, timestamp_ms=40 * i).landmarks for i, c in enumerate(crops)]
        frame_landmarks = [analyzer.detect_one(f, timestamp_ms=40 * (i + len(crops) + 1)).landmarks
                           for i, f in enumerate(frames)]
    return frames, crops, landmarks, frame_landmarks


def timed(function) -> tuple[float, float]:
    """``(cpu_ms, wall_ms)`` of one call. CPU time of this thread is what one core spends: on a shared
    machine wall time also counts the waits for other processes."""
    cpu, wall = time.thread_time(), time.perf_counter()
    function()
    return (time.thread_time() - cpu) * 1e3, (time.perf_counter() - wall) * 1e3


def summary(times: list[tuple[float, float]]) -> str:
    cpu, wall = np.array(times).T
    return f"{np.median(cpu):.2f} ms CPU (p90 {np.percentile(cpu, 90):.2f}), {np.median(wall):.2f} ms wall"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=80)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"clip: {args.clip.name}, {args.frames} frames, cv2 threads = {cv2.getNumThreads()}")
    for size in (256, 512):
        frames, crops, landmarks, frame_landmarks = load(args.clip, args.frames, size)
        source = int(np.argmin([mouth_opening(lm) for lm in landmarks]))
        engine = WarpEngine()
        engine.prepare(crops[source], landmarks[source])  # warm-up (imports, topology cache)
        prepare = [timed(lambda: engine.prepare(crops[source], landmarks[source])) for _ in range(5)]
        for lm in landmarks[:5]:
            engine.render(lm)
        plain = [timed(lambda: engine.render(lm)) for lm in landmarks]
        driven = [timed(lambda: engine.render(lm, frame, frame_lm))
                  for lm, frame, frame_lm in zip(landmarks, frames, frame_landmarks)]
        opened = sum(engine.mouth.weight(lm) > 0 for lm in landmarks)
        print(f"{size}x{size}: prepare {summary(prepare)}")
        print(f"  render, no driver pixels:   {summary(plain)}  ({len(landmarks)} frames, "
              f"{opened} with mouth interior)")
        print(f"  render, with driver pixels: {summary(driven)}")


if __name__ == "__main__":
    main()
