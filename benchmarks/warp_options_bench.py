"""What the warp engine's issue-12 options cost: render time per frame at 512 px on one core, with the
mirror texture, the person/background layers and turn easing off, each alone, all on without the face texture
(a profile's silhouette band refilled, render/outline.py), and all on (the default).

Two sources: the bundled astronaut (frontal: the mirror stays idle) driven by synthetic turns and mouth
openings, and the most turned frame of a dev clip (about 35° aside) driven by that clip's landmarks.

    python benchmarks/warp_options_bench.py                      # landmarks detected here, then timed
    python benchmarks/warp_options_bench.py --save inputs.npz    # ... and kept (crops + landmarks)
    python benchmarks/warp_options_bench.py --load inputs.npz    # timed from saved inputs (no MediaPipe)
    python benchmarks/warp_options_bench.py --turned-clip .../lrs3_0Fi83BHQsMA_man_glasses__spectre__0Fi83BHQsMA_00002.mp4
                                                                 # a profile: the face texture's cost

``--save`` writes crops of a dev clip: keep the file out of the repository (runs/ is ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from headshot.render.warp import WarpEngine  # noqa: E402

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"
TURNED_CLIP = DEV / "videos" / "pcavs_00373_woman__Talking-Face_PC-AVS__00373.mp4"
SIZE = 512
VARIANTS = {"all off (before issue 12)": {"mirror": False, "layers": False, "ease_turns": False},
            "mirror only": {"layers": False, "ease_turns": False},
            "layers only": {"mirror": False, "ease_turns": False},
            "all on, no face texture": {"face_texture": False},
            "all on (default)": {}}


def square_crop(image: np.ndarray, landmarks: np.ndarray, scale: float = 1.9) -> np.ndarray:
    low, high = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    centre, side = (low + high) / 2, float((high - low).max()) * scale
    k = SIZE / side
    matrix = np.array([[k, 0, SIZE / 2 - k * centre[0]], [0, k, SIZE / 2 - k * centre[1]]], np.float32)
    return cv2.warpAffine(image, matrix, (SIZE, SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def detect_inputs(turned_clip: Path = TURNED_CLIP) -> dict[str, np.ndarray]:
    """Crops and landmarks of both sources, and their targets."""
    from headshot.assets import astronaut
    from headshot.eval.metrics import euler_angles
    from headshot.face import FaceAnalyzer
    from headshot.io.video import VideoReader
    from headshot.motion.pose import rotation_matrix

    image = astronaut()
    with FaceAnalyzer() as analyzer:
        crop = square_crop(image, analyzer.detect_one(image).landmarks)
        landmarks = analyzer.detect_one(crop).landmarks
        centre = landmarks[:468].mean(0)
        targets = [((landmarks - centre) @ rotation_matrix(15 * np.sin(i / 5), 8 * np.cos(i / 7)).T + centre)
                   for i in range(100)]
        frames = [(frame.rgb, faces[0]) for frame in VideoReader(turned_clip, max_frames=400)
                  if frame.index % 4 == 0 and (faces := analyzer.detect(frame.rgb))]
        turned_rgb, turned_face = max(frames, key=lambda f: abs(euler_angles(f[1].pose_matrix)[0]))
        turned_crop = square_crop(turned_rgb, turned_face.landmarks)
        turned_landmarks = analyzer.detect_one(turned_crop).landmarks
        turned_targets = []
        for rgb, face in frames[::2]:
            found = analyzer.detect(square_crop(rgb, turned_face.landmarks))
            if found:
                turned_targets.append(found[0].landmarks)
    return {"crop": crop, "landmarks": landmarks, "targets": np.float32(targets), "turned_crop": turned_crop,
            "turned_landmarks": turned_landmarks, "turned_targets": np.float32(turned_targets)}


def time_variant(crop, landmarks, targets, options) -> tuple[float, float, bool]:
    """(prepare ms, best-of-3 mean render ms per frame, which of the mirror and face textures are active)."""
    engine = WarpEngine(**options)
    start = time.perf_counter()
    engine.prepare(crop, landmarks)
    prepare = (time.perf_counter() - start) * 1000
    for target in targets[:5]:
        engine.render(target)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for target in targets:
            engine.render(target)
        best = min(best, (time.perf_counter() - start) * 1000 / len(targets))
    active = [name for name, part in (("mirror", engine.mirror), ("face texture", engine.face_texture)) if part]
    return prepare, best, active


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="keep the detected inputs in this .npz")
    parser.add_argument("--load", type=Path, help="time saved inputs (no MediaPipe needed)")
    parser.add_argument("--turned-clip", type=Path, default=TURNED_CLIP,
                        help="the dev clip whose most turned frame is the turned source (default: ~35° aside; "
                             "lrs3_0Fi83BHQsMA_...00002.mp4 is a ~51° profile, whose face texture is active)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    inputs = dict(np.load(args.load)) if args.load else detect_inputs(args.turned_clip)
    if args.save:
        np.savez_compressed(args.save, **inputs)
    print(f"python {sys.version.split()[0]}, OpenCV {cv2.__version__}, one thread, {SIZE} px; "
          f"load average {os.getloadavg()[0]:.1f}")
    sources = {"astronaut (frontal)": ("crop", "landmarks", "targets"),
               "turned dev frame": ("turned_crop", "turned_landmarks", "turned_targets")}
    for label, keys in sources.items():
        crop, landmarks, targets = (inputs[k] for k in keys)
        for name, options in VARIANTS.items():
            prepare, render, active = time_variant(crop, landmarks, targets, options)
            print(f"{label:20s} {name:26s} prepare {prepare:6.0f} ms   render {render:5.2f} ms/frame"
                  f"{'   (' + ', '.join(active) + ' active)' if active else ''}", flush=True)


if __name__ == "__main__":
    main()
