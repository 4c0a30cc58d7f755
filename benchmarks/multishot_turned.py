"""Turned sources, one or two: a left and a right turned frame of one dev clip as the warp engine's photos,
together vs each alone (issue 12, item 3). Prints L1 and identity (SFace CSIM) against the real frames,
by the target's head yaw.

Self-reenactment from pixel-free targets (the real frames' landmarks, as the eval's template rows): every
4th frame of the clip drives, except frames within 8 of a source. One crop box for every row (the eval's
box of the first source), so outputs and real frames are compared pixel for pixel. Rows: each source alone,
both (each as the reference, the photo whose background is kept).

    python benchmarks/multishot_turned.py                                 # lp_d3: frame 16 (+16 deg), 216 (-22 deg)
    python benchmarks/multishot_turned.py --clip NAME.mp4 --left 32 --right 40

Uses ../shared/data/dev at run time; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("HEADSHOT_DEV_DATA", REPO.parent / "shared" / "data" / "dev"))
YAW_BINS = ((-90.0, -10.0), (-10.0, 10.0), (10.0, 90.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="lp_d3_woman_earrings__LivePortrait__d3.mp4")
    parser.add_argument("--left", type=int, default=16, help="frame turned one way")
    parser.add_argument("--right", type=int, default=216, help="frame turned the other way")
    parser.add_argument("--step", type=int, default=4, help="every N-th frame drives")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a constant of headshot.render.multishot (experiments)")
    args = parser.parse_args()
    import headshot.render.multishot as multishot

    for item in args.set:
        name, value = item.split("=")
        setattr(multishot, name, float(value))
        print(f"multishot.{name} = {float(value)}")

    from headshot.engines import get_engine
    from headshot.eval.data import eval_crop, eval_crop_box
    from headshot.face.identity import SFaceEmbedder
    from headshot.face.landmarker import FaceAnalyzer
    from headshot.io.video import count_frames, read_frames_at
    from headshot.motion.pose import decompose

    path = DEV / "videos" / args.clip
    total = count_frames(path)
    sources = (args.left, args.right)
    targets = [i for i in range(0, total, args.step) if min(abs(i - s) for s in sources) > 8]
    frames = read_frames_at(path, [*sources, *targets])
    embedder = SFaceEmbedder()
    started = time.perf_counter()
    with FaceAnalyzer() as analyzer:
        box = eval_crop_box(analyzer.detect(frames[args.left])[0].landmarks)

        def observe(image):
            faces = analyzer.detect(image)
            return faces[0].landmarks if faces else None

        crops = {i: eval_crop(frames[i], box) for i in frames}
        landmarks = {i: observe(crops[i]) for i in crops}
        shots = [(crops[s], landmarks[s]) for s in sources]
        scored = [i for i in targets if landmarks[i] is not None]
        yaws = np.array([decompose(landmarks[i])[0].yaw_pitch_roll()[0] for i in scored])
        real_ids = [embedder.embed(crops[i], landmarks[i]) for i in scored]
        source_yaws = [decompose(landmarks[s])[0].yaw_pitch_roll()[0] for s in sources]
        print(f"{args.clip}: sources frame {args.left} (yaw {source_yaws[0]:+.1f}) and {args.right} "
              f"(yaw {source_yaws[1]:+.1f}); {len(scored)} targets, yaw {yaws.min():+.1f} to {yaws.max():+.1f}")
        rows = {f"frame {args.left} alone": [0], f"frame {args.right} alone": [1],
                f"both, reference {args.left}": [0, 1], f"both, reference {args.right}": [1, 0]}
        results = {}
        for label, order in rows.items():
            engine = get_engine("warp")
            engine.prepare(*shots[order[0]])
            if len(order) > 1:
                engine.prepare_shots([shots[k] for k in order[1:]])
            l1, csim = [], []
            for index, real_id in zip(scored, real_ids):
                output = engine.render(landmarks[index])
                l1.append(np.abs(output.astype(np.float32) - crops[index]).mean() / 255)
                found = observe(output)
                csim.append(float(embedder.embed(output, found) @ real_id) if found is not None else 0.0)
            results[label] = (np.array(l1), np.array(csim))
    header = " | ".join(f"yaw {low:+.0f}..{high:+.0f} ({((yaws >= low) & (yaws < high)).sum()})"
                        for low, high in YAW_BINS)
    print(f"\n| row | L1 all | CSIM all | CSIM by target {header} |")
    print("|---|---:|---:|" + "---:|" * len(YAW_BINS))
    for label, (l1, csim) in results.items():
        by_bin = " | ".join(f"{csim[(yaws >= low) & (yaws < high)].mean():.3f}" if ((yaws >= low) & (yaws < high)).any()
                            else "-" for low, high in YAW_BINS)
        print(f"| {label} | {l1.mean():.4f} | {csim.mean():.3f} | {by_bin} |")
    print(f"\n({time.perf_counter() - started:.0f} s; load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
