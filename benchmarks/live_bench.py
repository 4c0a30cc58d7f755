"""Live mode speed: a video standing in for a camera drives a 512×512 portrait through the live loop.

End to end through ``headshot live``'s loop (:func:`headshot.live.desktop.camera_frames` decoding the clip
frame by frame → :meth:`LiveSession.step`: landmarks (MediaPipe, video mode), smoothing, retargeting, warp
engine, watermark), no window. Prints:

- ``fps``: frames out per second of wall time, the loop running as fast as it can (decoding included);
- ``added latency``: per frame, from the camera frame handed over to its animated frame ready (mean,
  median, 95th percentile), i.e. what the portrait adds to a camera's own latency;
- the same loop paced as a 25 fps camera (``--paced``): the latency a user sees when the machine keeps up;
- CPU time per frame of this process (all its threads): on a shared machine it does not depend on the
  other jobs, and 1000 / (CPU ms / 2) bounds the fps two idle cores could give.

Targets (issue 13): ≥ 20 fps and ≤ 150 ms added latency per frame at 512² on 2 cores.

    python benchmarks/live_bench.py [--clip CLIP.mp4] [--frames 300] [--photo PHOTO] [--paced]

The default clip is a 512×512 dev clip (``../shared/data/dev``, read at run time); the default photo the
bundled astronaut.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

DEFAULT_CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev" / "videos" / \
    "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"


def run(clip: Path, frames: int, photo, paced: bool, size: int) -> dict:
    from headshot.live import LiveSession
    from headshot.live.desktop import camera_frames

    latencies = []
    stream, fps, _ = camera_frames(clip, max_frames=frames, real_time=paced)
    session = LiveSession(photo, size=size)
    try:
        # the first frame includes the tracker's start; time the steady state from the second
        first = next(stream)
        session.step(*first)
        started, cpu = time.perf_counter(), time.process_time()
        count = 0
        for rgb, time_s in stream:
            handed = time.perf_counter()
            session.step(rgb, time_s)
            latencies.append(1000 * (time.perf_counter() - handed))
            count += 1
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        session.close()
    ordered = sorted(latencies)
    return {"frames": count, "fps": count / wall, "cpu_ms": 1000 * cpu / count, "mean": statistics.fmean(latencies),
            "median": statistics.median(latencies), "p95": ordered[int(0.95 * (len(ordered) - 1))],
            "size": session.output_size, "stages": session.animation.timer.ms_per_frame()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP.resolve())
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--photo", type=Path, default=None, help="portrait (default: the bundled astronaut)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--paced", action="store_true", help="also run paced as a 25 fps camera")
    args = parser.parse_args()
    from headshot.assets import astronaut

    photo = args.photo or astronaut()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    modes = [("as fast as possible", False)] + ([("paced as a camera", True)] if args.paced else [])
    for label, paced in modes:
        result = run(args.clip, args.frames, photo, paced, args.size)
        width, height = result["size"]
        print(f"{label}: {result['frames']} frames {width}x{height}: {result['fps']:.1f} fps; added latency "
              f"mean {result['mean']:.1f} ms, median {result['median']:.1f} ms, p95 {result['p95']:.1f} ms; "
              f"CPU {result['cpu_ms']:.1f} ms per frame (all threads of this process)")
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in result["stages"].items())
        print(f"  ms per frame by stage (decode+landmarks includes the camera's decode): {stages}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
