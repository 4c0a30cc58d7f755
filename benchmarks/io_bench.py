"""Speed and memory of headshot.io.video: decode and encode ms/frame at 512x512 and 1280x720, peak RSS.

Frames come from a dev clip (512x512), resized for 720p; encoded files go to a temporary folder.

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


def encode_ms(frames: list[np.ndarray], path: Path, preset: str, threads: int) -> float:
    start = time.perf_counter()
    with VideoWriter(path, 25, preset=preset, threads=threads) as writer:
        for rgb in frames:
            writer.write(rgb)
    return (time.perf_counter() - start) * 1000 / len(frames)


def decode_ms(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with VideoReader(path) as reader:
        count = sum(1 for _ in reader)
    return (time.perf_counter() - start) * 1000 / count, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--clip", type=Path, default=CLIP.resolve())
    args = parser.parse_args()

    frames_512 = list(read_frames(args.clip, max_frames=args.frames))
    sizes = {
        "512x512": frames_512,
        "1280x720": [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in frames_512],
    }
    print(f"encoder {video_encoder()}, preset {args.preset}, threads {args.threads or 'auto'}, "
          f"{len(frames_512)} frames")
    ms, count = decode_ms(args.clip)
    print(f"decode dev clip 512x512 (x264 crf 23): {ms:6.2f} ms/frame ({count} frames)")
    with tempfile.TemporaryDirectory() as folder:
        for name, frames in sizes.items():
            path = Path(folder) / f"bench_{name}.mp4"
            encode = encode_ms(frames, path, args.preset, args.threads)
            decode, _ = decode_ms(path)
            megabits = path.stat().st_size * 8 / 1e6 / (len(frames) / 25)
            print(f"{name:>9}: encode {encode:6.2f} ms/frame, decode {decode:6.2f} ms/frame, "
                  f"{megabits:.1f} Mbit/s")
        del sizes, frames_512
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"peak RSS {peak_mb:.0f} MB (includes the frames held in memory for the encode test)")


if __name__ == "__main__":
    main()
