"""Speed of ``headshot eval``: seconds per self-reenactment clip (default settings: 8 frames, stride 6,
warp engine + both baselines) and the extrapolated time of a whole dev-set run (98 self-reenactment clips +
8 few-shot clips + 12 cross-identity portraits), plus the per-image cost of each metric network.

Target: a default ``headshot eval --engine warp --data ../shared/data/dev`` run in under 15 minutes on the
2-core CPU. Usage: ``python benchmarks/eval_bench.py [--clips N]``; writes scratch output under /tmp.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"


def per_image_costs(repeats: int = 16) -> dict[str, float]:
    """Milliseconds per 256x256 image for detection, SFace, MobileNetV2 (batch of 8) and SSIM."""
    import cv2

    from headshot.assets import astronaut
    from headshot.eval import metrics
    from headshot.eval.features import MobileNetV2Metrics
    from headshot.eval.identity import SFaceEmbedder
    from headshot.face.landmarker import FaceAnalyzer

    crop = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    costs = {}
    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        landmarks = analyzer.detect(crop)[0].landmarks
        start = time.perf_counter()
        for _ in range(repeats):
            analyzer.detect(crop)
        costs["MediaPipe detection"] = (time.perf_counter() - start) / repeats * 1000
    embedder = SFaceEmbedder()
    embedder.embed(crop, landmarks)
    start = time.perf_counter()
    for _ in range(repeats):
        embedder.embed(crop, landmarks)
    costs["SFace embedding"] = (time.perf_counter() - start) / repeats * 1000
    network = MobileNetV2Metrics()
    batch = [crop] * 8
    network.encode(batch)
    start = time.perf_counter()
    for _ in range(max(1, repeats // 8)):
        network.encode(batch)
    costs["MobileNetV2 (per image, batch 8)"] = (time.perf_counter() - start) / max(1, repeats // 8) / 8 * 1000
    start = time.perf_counter()
    for _ in range(repeats):
        metrics.ssim(crop, crop)
    costs["SSIM"] = (time.perf_counter() - start) / repeats * 1000
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="self-reenactment clips to time")
    args = parser.parse_args()

    from headshot.eval.data import SelectionSettings
    from headshot.eval.runner import EvalOptions, run_evaluation

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    for name, value in per_image_costs().items():
        print(f"{name:36s} {value:7.1f} ms")
    with tempfile.TemporaryDirectory() as folder:
        options = EvalOptions(engines=["warp"], data=DEV, out=Path(folder), protocols=["self"],
                              selection=SelectionSettings(max_videos=args.clips), contact_sheets=True)
        start, cpu = time.perf_counter(), time.process_time()
        run_evaluation(options, progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    clips = args.clips
    per_clip = wall / clips
    items = 98 + 8 + 12
    print(f"self-reenactment: {per_clip:.1f} s per clip wall ({cpu / clips:.1f} s CPU), 4 rows x 8 frames")
    print(f"extrapolated whole dev run ({items} items): {per_clip * items / 60:.1f} min wall, "
          f"{cpu / clips * items / 60:.1f} min CPU (target < 15 min)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
