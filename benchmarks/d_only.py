"""D alone against fixed images: does a fresh discriminator learn to tell real targets from G's painting?

Issue 14: D's hinge loss sits at chance (2.0) in every 128 px run. This trains a fresh D (or variants) with
the training code's hinge and Adam (betas 0.5, 0.999), E and G fixed, on cached batches, and prints every
``--every`` steps the training hinge, the held-out margin (mean real score - mean fake score on other
episodes), the share of held-out pairs D ranks right and the spread (std) of its scores.

    python benchmarks/d_only.py build runs/neural-gpu2/model.safetensors runs/dev128 CACHE.pt \\
        --split configs/splits/dev.yaml                       # ~60 s on one core: 16 + 4 batches of 12
    python benchmarks/d_only.py train CACHE.pt --steps 100 --columns seeded --model MODEL --half

``--fake``: ``paint`` (G's painting before the blend), ``output`` (the blend) or ``blur`` (the real target,
5x5 box blur). ``--columns``: ``random`` (a fresh D: W ~ N(0, 0.3), w0 = 0), ``shared`` (W = 0, w0 ~
N(0, 0.3): one direction for every video) or ``seeded`` (W taken from ``--model``'s D, as
``seed_w_from_embeddings`` leaves it: 99 % one common vector). ``--half`` runs a 64 px D on the images
downsampled 2x (8x faster). ``--gain`` multiplies the score; ``--warmup N`` ramps the learning rate over N steps.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from headshot.neural.checkpoint import load_model
from headshot.neural.config import ModelConfig
from headshot.neural.discriminator import Discriminator
from headshot.neural.embedder import Embedder
from headshot.neural.generator import Generator, composite
from headshot.neural.losses import hinge_d_loss


def build(args) -> None:
    from headshot.train.dataset import EpisodeDataset
    from headshot.train.split import load_split

    model = load_model(args.model)
    cfg = model.config
    E = model.load_into("embedder", Embedder(cfg)).float().eval()
    G = model.load_into(model.generator_name(), Generator(cfg)).float().eval()
    data = EpisodeDataset(args.data, shots=4, split="train", heldout=load_split(args.split) if args.split else None,
                          warp_guided=True, seed=0)

    def make(count: int, offset: int) -> list[dict]:
        out, rng = [], torch.Generator().manual_seed(offset)
        for b in range(count):
            clips = torch.randint(0, len(data.records), (args.batch,), generator=rng).tolist()
            items = [data[(c, offset * 100 + b * args.batch + k)] for k, c in enumerate(clips)]
            x = {k: torch.stack([it[k] for it in items]) for k in items[0] if torch.is_tensor(items[0][k])}
            with torch.no_grad():
                parts = G(x["target_sketch"], E(x["shots"], x["shot_sketches"]), x["guide"], parts=True)
            out.append({"real": x["target"].half(), "paint": parts[:, :3].clamp(-1, 1).half(),
                        "output": composite(parts, x["guide"]).half(), "sketch": x["target_sketch"].half(),
                        "video": x["video_index"].long()})
        return out

    start = time.time()
    cache = {"train": make(args.train, 1), "test": make(args.test, 2), "config": cfg.to_json(),
             "num_videos": model.states["discriminator"]["W"].shape[1]}
    torch.save(cache, args.out)
    print(f"{args.out}: {args.train} + {args.test} batches of {args.batch} in {time.time() - start:.0f} s")


def train(args) -> None:
    cache = torch.load(args.cache)
    cfg = ModelConfig(**json.loads(cache["config"]))
    if args.half:
        cfg.image_size = 64
    cfg.spectral_norm = not args.no_spectral

    def prep(b: dict):
        real, sketch = b["real"].float(), b["sketch"].float()
        fake = (F.avg_pool2d(F.pad(real, (2, 2, 2, 2), mode="replicate"), 5, 1) if args.fake == "blur"
                else b[args.fake].float())
        if args.half:
            real, fake, sketch = (F.interpolate(t, scale_factor=0.5, mode="area") for t in (real, fake, sketch))
        if args.no_sketch:
            sketch = torch.zeros_like(sketch)
        return torch.cat([real, fake]), torch.cat([sketch, sketch]), torch.cat([b["video"], b["video"]])

    batches, held_out = [prep(b) for b in cache["train"]], [prep(b) for b in cache["test"]]
    torch.manual_seed(args.seed)
    D = Discriminator(cfg, cache["num_videos"])
    with torch.no_grad():
        if args.columns == "shared":
            D.W.zero_()
            D.w0.normal_(0, 0.3)
        elif args.columns == "seeded":
            D.W.copy_(load_model(args.model).states["discriminator"]["W"].float())
    optimiser = torch.optim.Adam(D.parameters(), args.lr, betas=(0.5, 0.999))
    warmup = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / max(args.warmup, 1)))
    start = time.time()
    for step in range(1, args.steps + 1):
        images, sketches, videos = batches[step % len(batches)]
        D.train()
        real, fake = (args.gain * D(images, sketches, videos)[0]).chunk(2)
        loss = hinge_d_loss(real, fake)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        warmup.step()
        if step % args.every == 0 or step == 1:
            D.eval()
            with torch.no_grad():
                scores = [(args.gain * D(*batch)[0]).chunk(2) for batch in held_out]
            real, fake = torch.cat([s[0] for s in scores]), torch.cat([s[1] for s in scores])
            print(f"step {step}: hinge {float(loss.detach()):.3f}, held-out margin {float(real.mean() - fake.mean()):+.4f}, "
                  f"ranked right {float((real > fake).float().mean()):.2f}, score std "
                  f"{float(torch.cat([real, fake]).std()):.3f} ({time.time() - start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("model"), b.add_argument("data"), b.add_argument("out")
    b.add_argument("--split"), b.add_argument("--train", type=int, default=16), b.add_argument("--test", type=int, default=4)
    b.add_argument("--batch", type=int, default=12)
    t = sub.add_parser("train")
    t.add_argument("cache")
    t.add_argument("--steps", type=int, default=100), t.add_argument("--every", type=int, default=10)
    t.add_argument("--fake", choices=("paint", "output", "blur"), default="paint")
    t.add_argument("--columns", choices=("random", "shared", "seeded"), default="random")
    t.add_argument("--model", help="model file whose D's W --columns seeded takes")
    t.add_argument("--lr", type=float, default=4e-4), t.add_argument("--gain", type=float, default=1.0)
    t.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up")
    t.add_argument("--half", action="store_true"), t.add_argument("--no-sketch", action="store_true")
    t.add_argument("--no-spectral", action="store_true"), t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.command == "train":
        torch.set_num_threads(args.threads)
        if args.columns == "seeded" and not args.model:
            parser.error("--columns seeded needs --model")
        train(args)
    else:
        torch.set_num_threads(1)
        build(args)


if __name__ == "__main__":
    main()
