"""Speed of the motion stage per driver frame: One-Euro smoothing, pose decomposition, retargeting,
and preset generation, on the astronaut's landmarks (no dev data needed).

Each figure is wall-clock ms per frame and, in brackets, CPU ms per frame of
this process: on a shared machine the CPU figure is the one that does not depend on other work.

    python benchmarks/motion_bench.py [--frames 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from headshot.assets import astronaut
from headshot.face import FaceAnalyzer
from headshot.face.smoothing import OneEuroFilter
from headshot.motion.pose import decompose
from headshot.motion.presets import PRESETS, preset
from headshot.motion.retarget import Retargeter


def _timed(label: str, work, frames: int) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<28} {1000 * wall / frames:7.3f} ms/frame  ({1000 * cpu / frames:.3f} CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    with FaceAnalyzer() as analyzer:
        source = analyzer.detect_one(astronaut()).landmarks
    rng = np.random.default_rng(0)
    drivers = source[None] + rng.normal(0, 1.0, (args.frames, 478, 3)).astype(np.float32)

    smoother = OneEuroFilter()
    _timed("OneEuroFilter.filter", lambda: [smoother(d, i / 25) for i, d in enumerate(drivers)], args.frames)
    _timed("decompose", lambda: [decompose(d) for d in drivers], args.frames)
    retarget = Retargeter(source)
    retarget.set_reference(drivers[0])
    _timed("Retargeter.__call__", lambda: [retarget(d) for d in drivers], args.frames)
    for name in PRESETS:
        preset(name, source, (512, 512), seconds=0.2)  # warm caches
        count = 200
        _timed(f"preset({name!r})", lambda name=name: preset(name, source, (512, 512), seconds=count / 25),
               count)


if __name__ == "__main__":
    main()
