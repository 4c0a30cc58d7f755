"""Pack a prepared dataset into shards small enough to travel to a GPU machine (issue 14).

The device machine receives the repository's tracked tree plus at most 64 MiB of carried paths, and it has
no ``../shared`` data. This keeps the **training identities only** of a split file (the held-out people
never leave), every ``--keep-every``-th stored frame, re-encodes the frames as JPEG at ``--quality``,
precomputes ``--guides`` warp guides per clip (:mod:`headshot.train.guides`: the device never runs the
warp engine) and writes the loss network's ImageNet weights as float16 safetensors beside them, so the
device needs nothing outside the carried folder and the repository::

    python benchmarks/gpu_pack.py runs/dev128 runs/gpu_shards --split configs/splits/dev.yaml \\
        --keep-every 3 --quality 85 --guides 20 --workers 2

Output: ``index.json`` + ``shards/`` (the :mod:`headshot.train.prepare` layout, with guides) +
``mobilenet_v2_features.safetensors``; prints the sizes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from headshot.train.guides import add_clip_guides  # noqa: E402
from headshot.train.identity import IDENTITY_KEY  # noqa: E402
from headshot.train.prepare import INDEX_NAME, write_index, write_npz  # noqa: E402
from headshot.train.split import load_split  # noqa: E402

MOBILENET_FILE = "mobilenet_v2_features.safetensors"


def _reencode(jpeg: np.ndarray, offsets: np.ndarray, keep: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    encoded = []
    for i in keep:
        image = cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        encoded.append(data.reshape(-1))
    out_offsets = np.zeros(len(encoded) + 1, np.int64)
    out_offsets[1:] = np.cumsum([len(d) for d in encoded])
    return np.concatenate(encoded), out_offsets


def pack_clip(job: tuple) -> dict:
    record, source_dir, out_dir, keep_every, quality, guides = job
    cv2.setNumThreads(1)
    with np.load(Path(source_dir) / record["shard"], allow_pickle=False) as shard:
        arrays = {key: shard[key] for key in shard.files if not key.startswith("guide_")}
    frames = len(arrays["offsets"]) - 1
    keep = np.arange(0, frames, keep_every)
    if len(keep) < 3:
        keep = np.arange(frames)
    arrays["jpeg"], arrays["offsets"] = _reencode(arrays["jpeg"], arrays["offsets"], keep, quality)
    # float16 landmarks: half the bytes (478 x 3 of them outweigh a 128-px JPEG), ~0.06 px steps at 128 px
    arrays["landmarks"] = arrays["landmarks"][keep].astype(np.float16)
    arrays["frame_index"] = arrays["frame_index"][keep]
    if IDENTITY_KEY in arrays:  # SFace embeddings (prepare --identity), for identity_weight > 0: per kept frame
        arrays[IDENTITY_KEY] = arrays[IDENTITY_KEY][keep].astype(np.float16)
    record = dict(record, frames=int(len(keep)), fps=float(record["fps"]) / (frames / len(keep)))
    arrays["meta"] = np.array(json.dumps(record))
    path = Path(out_dir) / record["shard"]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, **arrays)
    add_clip_guides(path, guides)
    return record


def write_mobilenet(out_dir: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    from headshot.neural.mobilenet import _imagenet_state_dict

    state = {key: value.to(torch.float16) if value.is_floating_point() else value
             for key, value in _imagenet_state_dict().items()}
    path = out_dir / MOBILENET_FILE
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a dataset of headshot prepare")
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", type=Path, default=REPO / "configs" / "splits" / "dev.yaml")
    parser.add_argument("--keep-every", type=int, default=3)
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("--guides", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    index = json.loads((args.data / INDEX_NAME).read_text())
    heldout = load_split(args.split)
    records = [r for r in index["videos"] if r["identity"] not in heldout]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    jobs = [(r, str(args.data), str(args.out), args.keep_every, args.quality, args.guides) for r in records]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        packed = []
        for record in pool.imap_unordered(pack_clip, jobs):
            packed.append(record)
            if len(packed) % 10 == 0 or len(packed) == len(jobs):
                print(f"{len(packed)}/{len(jobs)} clips, {time.monotonic() - started:.0f} s", flush=True)
    write_index(args.out, int(index["size"]), packed, [])
    weights = write_mobilenet(args.out)
    shard_bytes = sum(p.stat().st_size for p in (args.out / "shards").rglob("*.npz"))
    print(f"{len(packed)} clips of {len({r['identity'] for r in packed})} training identities "
          f"({len(heldout)} held out), {sum(r['frames'] for r in packed)} frames; shards {shard_bytes / 2**20:.1f} MiB, "
          f"{weights.name} {weights.stat().st_size / 2**20:.1f} MiB; {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
