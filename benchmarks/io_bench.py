"""Speed and memory of headshot.io.video: decode and encode ms/frame at 512x512 and 1280x720, peak RSS.

Frames come from a dev clip (512x512), resized for 720p; encoded files go to a temporary folder.
Each figure is wall-clock ms/frame and, in brackets, CPU ms/frame of this process (all threads): on a
shared machine the CPU figure is the one that does not depend on what else is running.

    python benchmarks/io_bench.py [--frames 150] [--preset veryfast] [--threads 0]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from headshot.io.video import VideoReader, VideoWriter, read_frames, video_encoder

CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev" / "videos" / (
    "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"
)


def _timed(count_frames) -> tuple[str, int]:
    """Run ``count_frames()`` (which returns its frame count); format wall and CPU ms per frame."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = count_frames()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"{wall * 1000 / count:6.2f} ms/frame ({cpu * 1000 / count:5.2f} CPU)", count


def encode_ms(frames: list[np.ndarray], path: Path, preset: str, threads: int) -> str:
    def run() -> int:
        with VideoWriter(path, 25, preset=preset, threads=threads) as writer:
            for rgb in frames:
                writer.write(rgb)
        return len(frames)

    return _timed(run)[0]


def decode_ms(path: Path) -> tuple[str, int]:
    def run() -> int:
        with VideoReader(path) as reader:
            return sum(1 for _ in reader)

    return _timed(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--clip", type=Path, default=CLIP.resolve())
    args = parser.parse_args()

    # Hold only a 30-frame cycle in memory so that peak RSS reflects the reader/writer, not the test data.
    cycle = list(read_frames(args.clip, max_frames=30))
    frames_512 = [cycle[i % len(cycle)] for i in range(args.frames)]
    cycle_720 = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in cycle]
    sizes = {"512x512": frames_512, "1280x720": [cycle_720[i % len(cycle)] for i in range(args.frames)]}
    print(f"encoder {video_encoder()}, preset {args.preset}, threads {args.threads or 'auto'}, "
          f"{len(frames_512)} frames")
    ms, count = decode_ms(args.clip)
    print(f"decode dev clip 512x512 (x264 crf 23): {ms} ({count} frames)")
    with tempfile.TemporaryDirectory() as folder:
        for name, frames in sizes.items():
            path = Path(folder) / f"bench_{name}.mp4"
            encode = encode_ms(frames, path, args.preset, args.threads)
            decode, _ = decode_ms(path)
            megabits = path.stat().st_size * 8 / 1e6 / (len(frames) / 25)
            print(f"{name:>9}: encode {encode}, decode {decode}, {megabits:.1f} Mbit/s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"peak RSS {peak_mb:.0f} MB (includes ~110 MB of test frames held for the encode test)")


if __name__ == "__main__":
    main()
