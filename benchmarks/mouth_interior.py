"""How close the warp engine's synthesised mouth interior is to real mouths (no driver pixels: templates,
speech), on dev self-reenactment.

Every dev clip: source = frame 0 (evaluation crop, 256 px), targets = every ``--every``-th frame up to frame
120 with their real landmarks. Scored are the frames whose mouth opens beyond the source's enough for the
interior to show fully or nearly (``MouthInterior.weight`` >= 0.5), inside the target's inner-lip loop
(eroded a pixel): mean-colour Delta E (Lab, OpenCV's float scale) and pixel L1 (0-1) against the real frame,
and the mean Lab of both. Split by identity (``configs/splits/dev.yaml``): the colours in
``headshot.render.mouth`` were set on the training identities, the held-out ones check them. Writes a
contact sheet of mouths (rendered above real) with ``--sheet``.

    python benchmarks/mouth_interior.py --data ../shared/data/dev --sheet runs/mouth_interior.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from headshot.engines import get_engine
from headshot.eval.data import eval_crop, eval_crop_box
from headshot.eval.toolkit import Toolkit
from headshot.face import topology
from headshot.io.video import read_frames_at
from headshot.render.mouth import MouthInterior


def inner_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(landmarks[topology.INNER_LIPS, :2] * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0


def lab_of(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[mask]


def mouth_tile(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    x, y = landmarks[topology.INNER_LIPS, :2].mean(0).astype(int)
    return cv2.resize(image[max(y - 24, 0):y + 24, max(x - 32, 0):x + 32], (128, 96))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--split", type=Path, default=Path("configs/splits/dev.yaml"))
    parser.add_argument("--every", type=int, default=3, help="every n-th frame of each clip (from frame 2)")
    parser.add_argument("--last", type=int, default=120, help="up to this frame")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of 40 mouths (rendered above real)")
    args = parser.parse_args()

    heldout = set(yaml.safe_load(args.split.read_text())["heldout"])
    toolkit = Toolkit()
    rows: dict[str, list[tuple]] = {"train": [], "heldout": []}
    tiles = []
    started = time.perf_counter()
    videos = sorted((args.data / "videos").glob("*.mp4"))
    for number, video in enumerate(videos, 1):
        toolkit.forget()
        indices = list(range(2, args.last, args.every))
        frames = read_frames_at(video, [0, *indices])
        found = toolkit.observe(frames[0]) if 0 in frames else None
        if found is None:
            continue
        box = eval_crop_box(found.landmarks)
        source = eval_crop(frames[0], box)
        observed = toolkit.observe(source)
        if observed is None:
            continue
        engine = get_engine("warp")
        engine.prepare(source, observed.landmarks)
        interior = MouthInterior(source, observed.landmarks)
        split = "heldout" if video.name.split("__")[0] in heldout else "train"
        for index in indices:
            if index not in frames:
                continue
            real = eval_crop(frames[index], box)
            target = toolkit.observe(real)
            if target is None or interior.weight(target.landmarks) < 0.5:
                continue
            mask = inner_mask(target.landmarks, real.shape[:2])
            if mask.sum() < 30:
                continue
            rendered = engine.render(target.landmarks)
            lab_rendered, lab_real = lab_of(rendered, mask), lab_of(real, mask)
            rows[split].append((float(np.linalg.norm(lab_rendered.mean(0) - lab_real.mean(0))),
                                float(np.abs(rendered.astype(np.float32) - real)[mask].mean() / 255),
                                *lab_rendered.mean(0), *lab_real.mean(0)))
            if args.sheet and len(tiles) < 40 and len(rows["train"]) % 7 == 1:
                tiles.append(np.vstack([mouth_tile(rendered, target.landmarks), mouth_tile(real, target.landmarks)]))
        print(f"\r{number}/{len(videos)} clips", end="", flush=True)
    toolkit.close()
    print(f"\n{sum(map(len, rows.values()))} frames in {time.perf_counter() - started:.0f} s")
    for split, values in rows.items():
        if not values:
            continue
        table = np.array(values)
        print(f"{split:8s} frames {len(table):4d}  Delta E {table[:, 0].mean():5.2f}  L1 {table[:, 1].mean():.4f}  "
              f"Lab rendered {np.round(table[:, 2:5].mean(0), 1)}  real {np.round(table[:, 5:8].mean(0), 1)}")
    if args.sheet and len(tiles) >= 8:
        count = len(tiles) // 8 * 8
        sheet = np.vstack([np.hstack(tiles[i:i + 8]) for i in range(0, count, 8)])
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.sheet), sheet[..., ::-1])
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
