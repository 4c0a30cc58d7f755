"""Where the warp engine loses identity against the unmoved photo at large motion: the same frames rendered
by a ladder of targets and engines, from "the photo itself" to "the engine as shipped", each scored by SFace
(and dlib with --dlib) against the real frame.

Rows (all on the evaluation crop, 256 px, template targets: no driver pixels):

- ``unmoved``: the source crop (the baseline the issue-12 targets are set against);
- ``similarity (warpAffine)``: the source moved by the 2-D similarity of its rigid landmarks onto the
  target's (``cv2.warpAffine``): resampling alone;
- ``similarity through the engine``: the same similarity given to ``WarpEngine`` as its target (mirror,
  layers, easing off): what the mesh's rings and border do to a motion a photo can show exactly;
- ``... rings follow fully``: as above with every ring following the head (``mesh.RING_FOLLOW`` = 1);
- ``rigid 3-D turn``: the engine (defaults) given the source's landmarks turned rigidly onto the target
  (no expression);
- ``engine, plain``: the real target, mirror / layers / easing off;
- ``engine (default)``: the real target, the engine as shipped.

Frames: the manifest's self-reenactment items (``--every``-th clip), those whose unmoved landmark error
(AKD, px) is at least ``--min-motion``; ``--turned`` uses each clip's most turned frame as the source (the
turned protocol's entries of the manifest). Prints the mean per row and its difference to ``unmoved``.

    python benchmarks/identity_gap.py --manifest runs/eval-dev/manifest.json --every 3
    python benchmarks/identity_gap.py --manifest runs/eval-dev/manifest.json --turned --min-motion 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from headshot.eval import metrics
from headshot.eval.data import EVAL_SIZE, eval_crop, eval_crop_box
from headshot.eval.toolkit import Toolkit
from headshot.face import topology
from headshot.io.video import read_frames_at
from headshot.motion.pose import umeyama
from headshot.render import mesh as mesh_module
from headshot.render.warp import WarpEngine

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"
PLAIN = {"mirror": False, "layers": False, "ease_turns": False}


def rigid_similarity(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The source landmarks moved by the 2-D similarity of the rigid points onto the target's, and its
    ``(2, 3)`` matrix."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    rotation, scale, shift = umeyama(source[topology.RIGID, :2], target[topology.RIGID, :2])
    moved = source.copy()
    moved[:, :2] = scale * source[:, :2] @ rotation.T + shift
    moved[:, 2] *= scale
    return moved.astype(np.float32), np.hstack([scale * rotation, shift[:, None]])


def rigid_turn(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The source landmarks turned rigidly in 3-D onto the target's rigid points (no expression)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    rotation, scale, shift = umeyama(source[topology.RIGID], target[topology.RIGID])
    return (scale * source @ rotation.T + shift).astype(np.float32)


class Engine:
    """A ``WarpEngine(**options)``; with ``rings_full`` its mesh is built with every ring following the head."""

    def __init__(self, options: dict, rings_full: bool = False):
        self.options, self.rings_full = options, rings_full

    def prepare(self, crop: np.ndarray, landmarks: np.ndarray) -> None:
        saved = mesh_module.RING_FOLLOW, mesh_module.HEAD_FOLLOW
        if self.rings_full:
            mesh_module.RING_FOLLOW = mesh_module.HEAD_FOLLOW = (1.0,) * len(saved[0])
        try:
            self.engine = WarpEngine(**self.options)
            self.engine.prepare(crop, landmarks)
        finally:
            mesh_module.RING_FOLLOW, mesh_module.HEAD_FOLLOW = saved

    def render(self, target: np.ndarray) -> np.ndarray:
        return self.engine.render(target)


def rows_for(source: np.ndarray, source_landmarks: np.ndarray, targets: list[np.ndarray]) -> dict[str, list]:
    """Each row's renders of the targets."""
    out: dict[str, list] = {"unmoved": [source] * len(targets)}
    moved = [rigid_similarity(source_landmarks, t) for t in targets]
    out["similarity (warpAffine)"] = [cv2.warpAffine(source, m, source.shape[1::-1], flags=cv2.INTER_LINEAR,
                                                     borderMode=cv2.BORDER_REPLICATE) for _, m in moved]
    for name, eng, kind in (("similarity through the engine", Engine(PLAIN), "similarity"),
                            ("... rings follow fully", Engine(PLAIN, rings_full=True), "similarity"),
                            ("rigid 3-D turn (defaults)", Engine({}), "turn"),
                            ("engine, plain", Engine(PLAIN), "real"),
                            ("engine (default)", Engine({}), "real")):
        eng.prepare(source, source_landmarks)
        chosen = {"similarity": [m for m, _ in moved], "turn": [rigid_turn(source_landmarks, t) for t in targets],
                  "real": targets}[kind]
        out[name] = [eng.render(t) for t in chosen]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True, help="an eval run's manifest.json")
    parser.add_argument("--data", type=Path, default=DEV)
    parser.add_argument("--every", type=int, default=3, help="every K-th clip of the manifest")
    parser.add_argument("--min-motion", type=float, default=10.0, help="keep frames whose unmoved AKD >= this")
    parser.add_argument("--turned", action="store_true", help="the manifest's turned entries (turned sources)")
    parser.add_argument("--dlib", action="store_true", help="dlib CSIM beside SFace (needs headshot[dlib])")
    args = parser.parse_args()
    entries = json.loads(args.manifest.read_text())["turned" if args.turned else "self"][::args.every]
    toolkit = Toolkit(identity="both" if args.dlib else "sface")
    names = list(toolkit.embedders)
    scores: dict[str, dict[str, list[float]]] = {}
    started, frames = time.perf_counter(), 0
    for entry in entries:
        toolkit.forget()
        images = read_frames_at(args.data / entry["video"], [entry["source_frame"], *entry["frames"]])
        seen = toolkit.observe(images[entry["source_frame"]])
        if seen is None:
            continue
        box = eval_crop_box(seen.landmarks)
        source = eval_crop(images[entry["source_frame"]], box)
        own = toolkit.observe(source)
        source_landmarks = own.landmarks if own is not None else box.to_crop(seen.landmarks, EVAL_SIZE)
        reals, observed = [], []
        for index in entry["frames"]:
            if index not in images:
                continue
            crop = eval_crop(images[index], box)
            found = toolkit.observe(crop)
            if found is not None and metrics.keypoint_distance(source_landmarks, found.landmarks) >= args.min_motion:
                reals.append(crop)
                observed.append(found)
        if not reals:
            continue
        wanted = [toolkit.embed(crop, o.landmarks) for crop, o in zip(reals, observed)]
        for row, outputs in rows_for(source, source_landmarks, [o.landmarks for o in observed]).items():
            for output, want, real in zip(outputs, wanted, observed):
                found = toolkit.observe(output)
                got = toolkit.embed(output, found.landmarks if found is not None else real.landmarks)
                for name in names:
                    cosine = float(np.dot(got[name], want[name]) / (np.linalg.norm(got[name]) * np.linalg.norm(want[name])))
                    scores.setdefault(row, {}).setdefault(name, []).append(cosine)
        frames += len(reals)
        print(f"{entry['id'][:50]:50s} {len(reals)} frames", flush=True)
    print(f"\n{frames} frames, min motion {args.min_motion} px, {'turned' if args.turned else 'self'} sources, "
          f"{time.perf_counter() - started:.0f} s")
    base = scores.get("unmoved", {})
    for row, by_name in scores.items():
        cells = [f"{name} {np.mean(v):.4f} ({np.mean(np.array(v) - np.array(base[name])):+.4f})"
                 for name, v in by_name.items()]
        print(f"{row:32s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
