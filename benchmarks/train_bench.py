"""Training throughput of the meta-learning loop: generated images per second (and ms per step).

One step = ``d_steps_per_g_step`` D updates + one E/G update, each on a batch of ``batch_size`` episodes
(K shots + 1 target); "images" counts generated targets, i.e. ``(d_steps + 1) × batch_size`` per step.
Data come from a prepared dataset (``--data``) or, by default, two dev clips prepared into a temp folder.

    python benchmarks/train_bench.py                       # tiny + landmarks (default) configs, CPU
    python benchmarks/train_bench.py --device cuda         # on a GPU (bf16 autocast)
    python benchmarks/train_bench.py --configs configs/default_cpu.yaml   # warp-guided (stored guides)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("HEADSHOT_DEV_DATA", REPO / ".." / "shared" / "data" / "dev")).resolve()


def prepared_dev_clips(folder: Path, size: int) -> Path:
    from headshot.train.prepare import prepare_dataset

    videos = folder / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for name in ("aoc__EDTalk__pose_source1.mp4", "andrew_ng__styletalk__andrew_clip_1.mp4"):
        if not (videos / name).exists():
            os.symlink(DEV / "videos" / name, videos / name)
    prepare_dataset(videos, folder / "dataset", size=size, every=2, max_frames=40, progress=False)
    from headshot.train.guides import add_guides

    add_guides(folder / "dataset", 20, progress=False)  # what headshot prepare --guides 20 stores
    return folder / "dataset"


def bench(config: Path, data: Path, device: str, steps: int, warmup: int, batch_size: int | None) -> dict:
    from headshot.neural.config import load_config
    from headshot.train.dataset import EpisodeDataset, EpisodeSampler
    from headshot.train.distributed import DistributedContext
    from headshot.train.trainer import Trainer

    model_cfg, cfg = load_config(config)
    if batch_size:
        cfg = cfg.updated({"batch_size": batch_size})
    # warp-guided configs need the guide input (it crashed without): stored in the shards by
    # headshot prepare --guides (benchmarks use them when present), else rendered per episode
    dataset = EpisodeDataset(data, shots=cfg.shots, image_size=model_cfg.image_size, split="all",
                             sketch=model_cfg.sketch, warp_guided=model_cfg.warp_guided)
    context = DistributedContext(device=torch.device(device))
    trainer = Trainer(model_cfg, cfg, dataset.num_videos, context)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size,
                                         sampler=EpisodeSampler(len(dataset)), num_workers=1, prefetch_factor=4)
    batches = iter(loader)
    per_step = trainer.d_steps + 1
    # the loader is timed apart from the networks: on 2 cores its JPEG decoding and sketch drawing compete
    data_s = 0.0
    for index in range(warmup + steps):
        if index == warmup:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started, data_s = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        step_batches = [next(batches) for _ in range(per_step)]
        data_s += time.perf_counter() - t0
        trainer.train_step(step_batches)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    images = steps * per_step * cfg.batch_size
    params = sum(p.numel() for m in (trainer.E, trainer.G, trainer.D) for p in m.parameters())
    return {"images_per_s": images / elapsed, "ms_per_step": 1000 * elapsed / steps,
            "data_wait_ms_per_step": 1000 * data_s / steps, "batch": cfg.batch_size,
            "shots": cfg.shots, "size": model_cfg.image_size, "params_M": params / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["configs/tiny.yaml", "configs/landmarks.yaml"])
    parser.add_argument("--data", type=Path, help="prepared dataset (default: two dev clips, prepared now)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="override the configs' batch_size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else
                                     f", {args.threads} torch threads, {os.cpu_count()} cores"))
    with tempfile.TemporaryDirectory() as temp:
        for config in args.configs:
            from headshot.neural.config import load_config

            size = load_config(REPO / config)[0].image_size
            data = args.data or prepared_dev_clips(Path(temp) / str(size), size)
            result = bench(REPO / config, data, args.device, args.steps, args.warmup, args.batch_size)
            print(f"{config}: {result['images_per_s']:.2f} images/s, {result['ms_per_step']:.0f} ms/step "
                  f"(data wait {result['data_wait_ms_per_step']:.0f} ms), batch {result['batch']} x "
                  f"(K={result['shots']} + 1) at {result['size']} px, {result['params_M']:.1f} M parameters")


if __name__ == "__main__":
    main()
