"""Meta-learning of E, G and D (Zakharov et al. 2019, Sec. 3.2): the training loop behind ``headshot train``.

One *step* is ``d_steps_per_g_step`` discriminator updates (paper: 2) followed by one joint update of the
embedder and generator, each on a fresh batch of episodes:

- D step: ``L_D = hinge(r_real, r_fake) + λ_MCH ‖W_i − ê_i‖₁`` (ê and the fake image carry no gradient;
  the match term is how the paper's ``L_MCH`` moves W's columns towards the embeddings).
- E/G step: ``L = L_CNT + L_ADV + λ_FM L_FM + λ_MCH ‖W_i − ê_i‖₁ (+ λ_L1 L1)`` with W fixed here, so the
  match term moves ê towards W. Adam with the paper's learning rates (E, G: 5e-5; D: 2e-4).

After each E/G step an exponential moving average of E and G is updated (both are needed at inference:
E gives ê, G renders); samples and exported models use the averaged weights.

The run folder holds ``config.yaml`` (the merged configuration), ``log.txt``, ``metrics.csv``,
``losses.png``, ``samples/step_NNNNNNN.png`` (rows: shots | target sketch | generated | target),
``checkpoints/step_NNNNNNN.safetensors`` (see :mod:`headshot.train.checkpoints`) and TensorBoard events
under ``tensorboard/``.

Distributed: run the same command under ``torchrun --nproc_per_node=N`` (``python -m headshot.train.loop``
takes the same arguments as ``headshot train``); E, G and D are wrapped in DistributedDataParallel, each
rank draws different episodes of the same seeded stream, and rank 0 writes the run folder.
"""

from __future__ import annotations

import copy
import csv
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import HeadshotError, InputError
from ..io.atomic import atomic_output, atomic_write_text
from . import checkpoints as ckpt
from .distributed import DistributedContext, all_reduce_mean, any_rank, barrier, setup, teardown, wrap

METRIC_COLUMNS = ("step", "elapsed_s", "images_per_s", "d_loss", "g_loss", "content", "l1", "adversarial",
                  "feature_matching", "embedding_match", "real_score", "fake_score", "l1_to_target")

# Training-dict keys that only train/ reads (beyond neural.config.DEFAULT_TRAIN), with their defaults.
LOOP_DEFAULTS = {
    "val_fraction": 0.1,       # share of identities held out (samples and validation come from them)
    "augment": True,           # colour / scale / shift jitter, one draw per episode
    "bf16": True,              # bf16 autocast on CUDA (ignored on CPU: fp32 there)
    "keep_checkpoints": 3,     # newest checkpoints kept in the run folder
    "sample_rows": 4,          # episodes in a sample grid
    "workers": 1,              # DataLoader worker processes per rank (0: load in the training process)
    "checkpoint_minutes": 20,
    "ddp_find_unused_parameters": False,  # DDP: only for architectures with branches some steps skip  # also checkpoint after this much wall-clock time since the last one
}


@dataclass
class TrainOptions:
    """What ``headshot train`` asks for. ``overrides`` replace keys of the YAML's ``train`` section."""

    config: Path
    data: Path
    run: Path
    steps: int | None = None
    device: str = "cpu"
    resume: bool = False
    max_minutes: float | None = None
    threads: int | None = None
    workers: int | None = None
    progress: bool = True
    overrides: dict = field(default_factory=dict)
    clips: list[str] | None = None          # restrict the dataset to these clip keys (tests, debugging)
    max_frames: int | None = None           # use only the first frames of each clip


def _autocast(device: torch.device, enabled: bool):
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if hasattr(module, "module") else module


class Trainer:
    """E, G, D, their optimisers, the EMA copies and the two update steps.

    Args:
        model_cfg: :class:`headshot.neural.config.ModelConfig`.
        train_cfg: the training dict (``neural.config.DEFAULT_TRAIN`` + :data:`LOOP_DEFAULTS` + YAML).
        num_videos: columns of D's W (videos of the training split).
        context: the process's place in the process group and its device.
    """

    def __init__(self, model_cfg, train_cfg: dict, num_videos: int, context: DistributedContext):
        from ..neural.config import LossWeights
        from ..neural.discriminator import Discriminator
        from ..neural.embedder import Embedder
        from ..neural.generator import Generator
        from ..neural.losses import ContentLoss, ZakharovLoss

        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.context = context
        device = context.device
        torch.manual_seed(int(train_cfg["seed"]))  # identical initial weights on every rank
        self.E = Embedder(model_cfg).to(device)
        self.G = Generator(model_cfg).to(device)
        self.D = Discriminator(model_cfg, num_videos).to(device)
        self.E_ema = copy.deepcopy(self.E).eval().requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        unused = bool(train_cfg.get("ddp_find_unused_parameters", False))
        self.E_ddp, self.G_ddp, self.D_ddp = (wrap(m, context, unused) for m in (self.E, self.G, self.D))
        betas = tuple(float(b) for b in train_cfg["betas"])
        self.opt_g = torch.optim.Adam(list(self.E.parameters()) + list(self.G.parameters()),
                                      lr=float(train_cfg["lr_generator"]), betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=float(train_cfg["lr_discriminator"]), betas=betas)
        self.weights = LossWeights.from_train(train_cfg)
        content = None
        if self.weights.content_mobilenet or "vgg" in str(train_cfg["content_network"]):
            content = ContentLoss(str(train_cfg["content_network"]), self.weights,
                                  train_cfg.get("vgg19_weights"), train_cfg.get("vggface_weights"))
        self.loss = ZakharovLoss(self.weights, content).to(device)
        self.d_steps = int(train_cfg["d_steps_per_g_step"])
        self.ema_decay = float(train_cfg["ema_decay"])
        self.bf16 = bool(train_cfg.get("bf16", True))
        self.step = 0

    # -- state ---------------------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"E": self.E, "G": self.G, "D": self.D, "E_ema": self.E_ema, "G_ema": self.G_ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # -- steps ---------------------------------------------------------------------------------------
    def _inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        device = self.context.device
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()
                if torch.is_tensor(value)}

    def d_step(self, batch: dict) -> dict[str, float]:
        """One discriminator update on a batch of episodes; returns its logged values."""
        x = self._inputs(batch)
        with torch.no_grad(), _autocast(self.context.device, self.bf16):
            embedding = self.E_ddp(x["shots"], x["shot_sketches"])
            fake = self.G_ddp(x["target_sketch"], embedding, x.get("guide"))
        with _autocast(self.context.device, self.bf16):
            scores, _ = self.D_ddp(torch.cat([x["target"], fake.to(x["target"].dtype)]),
                                   torch.cat([x["target_sketch"], x["target_sketch"]]),
                                   torch.cat([x["video_index"], x["video_index"]]))
        real_scores, fake_scores = scores.float().chunk(2)
        hinge = self.loss.discriminator(real_scores, fake_scores)
        loss = hinge
        if self.weights.embedding_match:
            from ..neural.losses import embedding_match_loss

            columns = self.D.W.t()[x["video_index"]]
            loss = loss + self.weights.embedding_match * embedding_match_loss(columns, embedding.float())
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"d_loss": float(hinge.detach()), "real_score": float(real_scores.detach().mean()),
                "fake_score": float(fake_scores.detach().mean())}

    def g_step(self, batch: dict) -> dict[str, float]:
        """One joint E/G update on a batch of episodes; updates the EMA; returns its logged values."""
        x = self._inputs(batch)
        freeze_d = not self.context.enabled  # under DDP every parameter keeps requires_grad (hooks)
        if freeze_d:
            self.D.requires_grad_(False)
        try:
            with _autocast(self.context.device, self.bf16):
                embedding = self.E_ddp(x["shots"], x["shot_sketches"])
                fake = self.G_ddp(x["target_sketch"], embedding, x.get("guide"))
                scores, activations = self.D_ddp(torch.cat([fake, x["target"].to(fake.dtype)]),
                                                 torch.cat([x["target_sketch"], x["target_sketch"]]),
                                                 torch.cat([x["video_index"], x["video_index"]]))
            batch_size = fake.shape[0]
            fake = fake.float()
            fake_scores = scores.float()[:batch_size]
            fake_activations = [a.float()[:batch_size] for a in activations]
            real_activations = [a.float()[batch_size:] for a in activations]
            columns = self.D.W.t()[x["video_index"]].detach()
            terms = self.loss.generator(fake, x["target"], fake_scores, real_activations, fake_activations,
                                        columns, embedding.float())
            self.opt_g.zero_grad(set_to_none=True)
            terms.total.backward()
            self.opt_g.step()
        finally:
            if freeze_d:
                self.D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)  # D's gradients from this pass are not used
        self.update_ema()
        logged = {"g_loss": float(terms.total.detach())}
        logged.update({name: float(value.detach()) for name, value in terms.terms.items()})
        logged["l1_to_target"] = float((fake.detach() - x["target"]).abs().mean())
        return logged

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema ← d·ema + (1 − d)·live`` for E's and G's parameters; buffers are copied.

        ``d = min(ema_decay, (1 + t) / (10 + t))`` at step ``t``: the usual warm-up, so that a short run's
        average is not dominated by the random initial weights.
        """
        decay = min(self.ema_decay, (1.0 + self.step) / (10.0 + self.step))
        for live, ema in ((self.E, self.E_ema), (self.G, self.G_ema)):
            for p_ema, p in zip(ema.parameters(), live.parameters()):
                p_ema.lerp_(p.detach(), 1.0 - decay)
            for b_ema, b in zip(ema.buffers(), live.buffers()):
                b_ema.copy_(b)

    def train_step(self, batches: list[dict]) -> dict[str, float]:
        """One step: ``d_steps`` D updates then one E/G update; ``batches`` has ``d_steps + 1`` batches."""
        self.E.train(), self.G.train(), self.D.train()
        logged: dict[str, float] = {}
        for batch in batches[:self.d_steps]:
            for key, value in self.d_step(batch).items():
                logged[key] = logged.get(key, 0.0) + value / max(1, self.d_steps)
        logged.update(self.g_step(batches[-1]))
        self.step += 1
        return logged

    @torch.no_grad()
    def render(self, batch: dict, ema: bool = True) -> torch.Tensor:
        """Generated targets ``(B, 3, H, W)`` in [-1, 1] for a batch (EMA weights by default), on CPU."""
        x = self._inputs(batch)
        embedder, generator = (self.E_ema, self.G_ema) if ema else (self.E, self.G)
        was_training = generator.training, embedder.training
        embedder.eval(), generator.eval()
        embedding = embedder(x["shots"], x["shot_sketches"])
        out = generator(x["target_sketch"], embedding, x.get("guide")).float().cpu()
        embedder.train(was_training[1]), generator.train(was_training[0])
        return out


def export_model(trainer: Trainer, path: str | Path, extra: dict | None = None) -> Path:
    """Write the inference model file (:mod:`headshot.neural.checkpoint` format) of a trainer.

    Entries: ``embedder`` (EMA weights of E), ``generator`` (live G), ``generator_ema`` (EMA of G) and
    ``discriminator`` (needed by ``headshot finetune``). Loadable by ``NeuralEngine(model_path=...)``.
    """
    from ..neural.checkpoint import save_model

    modules = {"embedder": trainer.E_ema, "generator": trainer.G, "generator_ema": trainer.G_ema,
               "discriminator": trainer.D}
    return save_model(path, modules, trainer.model_cfg, extra)


def sample_grid(batch: dict, generated: torch.Tensor, max_shots: int = 3) -> np.ndarray:
    """One row per episode: up to ``max_shots`` shots | target sketch | generated | target. RGB uint8 HWC."""
    rows = []
    for i in range(generated.shape[0]):
        tiles = [batch["shots"][i, k] for k in range(min(max_shots, batch["shots"].shape[1]))]
        tiles += [batch["target_sketch"][i], generated[i], batch["target"][i]]
        rows.append(torch.cat([t.float().cpu() for t in tiles], dim=2))
    grid = torch.cat(rows, dim=1)
    return ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temp:
        cv2.imwrite(str(temp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def plot_metrics(run_dir: Path) -> Path | None:
    """Plot ``metrics.csv`` of a run as ``losses.png`` (loss terms, scores and throughput vs step)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return None
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]

    def series(name):
        return [float(r[name]) if r.get(name) not in (None, "") else math.nan for r in rows]

    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name in ("g_loss", "content", "feature_matching", "embedding_match", "l1_to_target"):
        axes[0].plot(steps, series(name), label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("E/G losses")
    for name in ("d_loss", "adversarial", "real_score", "fake_score"):
        axes[1].plot(steps, series(name), label=name)
    axes[1].set_title("adversarial")
    axes[2].plot(steps, series("images_per_s"))
    axes[2].set_title("generated images / s")
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    out = Path(run_dir) / "losses.png"
    try:
        with atomic_output(out) as temp:
            figure.savefig(temp, dpi=80)
    finally:
        plt.close(figure)
    return out


class _StopFlag:
    """Set by SIGTERM / SIGINT so that the loop checkpoints and stops at the end of the current step."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        self.stop = True


def _merged_config(options: TrainOptions):
    from ..neural.config import load_config

    model_cfg, train_cfg = load_config(options.config)
    merged = dict(LOOP_DEFAULTS)
    merged.update(train_cfg)
    merged.update(options.overrides)
    if options.steps is not None:
        merged["steps"] = int(options.steps)
    if options.workers is not None:
        merged["workers"] = int(options.workers)
    return model_cfg, merged


def _write_config(run_dir: Path, model_cfg, train_cfg: dict) -> None:
    import dataclasses

    import yaml

    text = yaml.safe_dump({"model": dataclasses.asdict(model_cfg), "train": train_cfg}, sort_keys=False)
    atomic_write_text(run_dir / "config.yaml", text)


def _fixed_batch(dataset, count: int, seed: int) -> dict:
    from .dataset import episode_seed

    items = [dataset[(i % len(dataset), episode_seed(seed, i))] for i in range(count)]
    return torch.utils.data.default_collate(items)


def train(options: TrainOptions) -> Trainer:
    """Run (or resume) a training run as described by ``options``; returns the trainer at the end.

    Stops after ``steps`` steps (of the config or ``options.steps``), after ``max_minutes`` of wall-clock
    time, or on SIGTERM/SIGINT, always writing a final checkpoint. Raises :class:`HeadshotError` for a run
    folder that already has checkpoints without ``resume``.
    """
    started = time.monotonic()
    context = setup(options.device)
    try:
        return _train(options, context, started)
    finally:
        teardown(context)


def _train(options: TrainOptions, context: DistributedContext, started: float) -> Trainer:
    from .dataset import EpisodeDataset, EpisodeSampler

    model_cfg, cfg = _merged_config(options)
    if options.threads:
        torch.set_num_threads(int(options.threads))
    run_dir = Path(options.run)
    checkpoint_dir = run_dir / "checkpoints"
    existing = ckpt.list_checkpoints(checkpoint_dir)
    if existing and not options.resume:
        raise HeadshotError(f"{run_dir} already has checkpoints: pass --resume or choose another --run")
    seed = int(cfg["seed"])
    dataset = EpisodeDataset(options.data, shots=int(cfg["shots"]), image_size=model_cfg.image_size,
                             split="train", val_fraction=float(cfg["val_fraction"]), split_seed=seed,
                             sketch=model_cfg.sketch, augment=bool(cfg["augment"]), seed=seed,
                             clips=options.clips, max_frames=options.max_frames,
                             warp_guided=model_cfg.warp_guided)
    trainer = Trainer(model_cfg, cfg, dataset.num_videos, context)
    batch_size = int(cfg["batch_size"])
    batches_per_step = trainer.d_steps + 1
    position = 0  # episodes of the global stream consumed so far (all ranks)
    if options.resume and existing:
        step, extra = ckpt.load_checkpoint(existing[-1][1], trainer.modules(), trainer.optimizers())
        if extra.get("videos") != dataset.videos:
            raise InputError(f"{existing[-1][1]} was trained on other videos than {options.data} gives")
        trainer.step = step
        position = int(extra["position"])
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(run_dir, model_cfg, cfg)
    barrier(context)

    sampler = EpisodeSampler(len(dataset), seed, context.rank, context.world_size, start=position)
    workers = int(cfg["workers"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                         pin_memory=context.device.type == "cuda",
                                         prefetch_factor=4 if workers else None,
                                         persistent_workers=False)
    batches = iter(loader)

    sample_batch = None
    writer = None
    metrics_file = None
    log_file = None
    if context.is_main:
        try:
            val = EpisodeDataset(options.data, shots=int(cfg["shots"]), image_size=model_cfg.image_size,
                                 split="val", val_fraction=float(cfg["val_fraction"]), split_seed=seed,
                                 sketch=model_cfg.sketch, clips=options.clips, max_frames=options.max_frames,
                                 warp_guided=model_cfg.warp_guided)
        except InputError:  # no held-out identity (tiny datasets): show training episodes
            val = dataset
        sample_batch = _fixed_batch(val, int(cfg["sample_rows"]), seed + 1)
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:  # tensorboard is optional at run time
            writer = None
        new_metrics = not (run_dir / "metrics.csv").is_file()
        metrics_file = open(run_dir / "metrics.csv", "a", newline="")
        metrics = csv.writer(metrics_file)
        if new_metrics:
            metrics.writerow(METRIC_COLUMNS)
        log_file = open(run_dir / "log.txt", "a")

    def log(line: str) -> None:
        if log_file is not None:
            log_file.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")
            log_file.flush()

    def save() -> None:
        if context.is_main:
            extra = {"position": position, "videos": dataset.videos, "model_config": model_cfg.to_json(),
                     "train_config": cfg, "world_size": context.world_size}
            path = ckpt.save_checkpoint(ckpt.checkpoint_path(checkpoint_dir, trainer.step), trainer.step,
                                        trainer.modules(), trainer.optimizers(), extra)
            ckpt.prune_checkpoints(checkpoint_dir, int(cfg["keep_checkpoints"]))
            export_model(trainer, run_dir / "model.safetensors",
                         {"step": trainer.step, "videos": len(dataset.videos), "identities": len(dataset.identities),
                          "data": str(options.data), "train_config": cfg, "world_size": context.world_size})
            plot_metrics(run_dir)
            log(f"checkpoint {path.name}")
        barrier(context)

    total_steps = int(cfg["steps"])
    log_every, sample_every = int(cfg["log_every"]), int(cfg["sample_every"])
    checkpoint_every = int(cfg["checkpoint_every"])
    deadline = started + options.max_minutes * 60 if options.max_minutes else None
    log(f"start step {trainer.step}/{total_steps} rank 0 of {context.world_size} on {context.device}; "
        f"{len(dataset)} clips, {dataset.num_videos} videos, batch {batch_size}/rank")
    stop_flag = _StopFlag()
    stop_flag.install()
    sums: dict[str, float] = {}
    window_images, window_start, window_steps = 0, time.monotonic(), 0
    images_per_step = batches_per_step * batch_size * context.world_size
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                        TextColumn("{task.fields[loss]}"), TimeElapsedColumn(),
                        disable=not (options.progress and context.is_main))
    last_saved, last_saved_time = trainer.step, time.monotonic()
    with progress:
        task = progress.add_task("steps", total=total_steps, completed=trainer.step, rate="", loss="")
        while trainer.step < total_steps:
            step_batches = [next(batches) for _ in range(batches_per_step)]
            position += images_per_step
            logged = trainer.train_step(step_batches)
            for key, value in logged.items():
                sums[key] = sums.get(key, 0.0) + value
            window_images += images_per_step
            window_steps += 1
            step = trainer.step
            if step % log_every == 0 or step == total_steps:
                elapsed = time.monotonic() - window_start
                rate = window_images / max(elapsed, 1e-9)
                means = {key: all_reduce_mean(sums.get(key, 0.0) / window_steps, context)
                         for key in METRIC_COLUMNS[3:]}
                if context.is_main:
                    row = [step, round(time.monotonic() - started, 2), round(rate, 3)]
                    row += [f"{means[key]:.6g}" if key in sums else "" for key in METRIC_COLUMNS[3:]]
                    metrics.writerow(row)
                    metrics_file.flush()
                    if writer is not None:
                        writer.add_scalar("throughput/images_per_s", rate, step)
                        for key in METRIC_COLUMNS[3:]:
                            if key in sums:
                                writer.add_scalar(f"loss/{key}", means[key], step)
                    log(f"step {step} | " + " | ".join(f"{key} {means[key]:.4g}" for key in METRIC_COLUMNS[3:]
                                                     if key in sums) + f" | {rate:.2f} img/s")
                progress.update(task, rate=f"{rate:.2f} img/s", loss=f"G {means['g_loss']:.3f} D {means['d_loss']:.3f}")
                sums, window_images, window_start, window_steps = {}, 0, time.monotonic(), 0
            progress.update(task, completed=step)
            if context.is_main and (step % sample_every == 0 or step == total_steps):
                grid = sample_grid(sample_batch, trainer.render(sample_batch))
                _write_png(run_dir / "samples" / f"step_{step:07d}.png", grid)
                if writer is not None:
                    writer.add_image("samples", grid, step, dataformats="HWC")
            overdue = time.monotonic() - last_saved_time > float(cfg["checkpoint_minutes"]) * 60
            if step % checkpoint_every == 0 or any_rank(overdue, context):
                save()
                last_saved, last_saved_time = step, time.monotonic()
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if any_rank(out_of_time or stop_flag.stop, context):
                log(f"stopping at step {step}: " + ("time limit" if out_of_time else "signal"))
                if context.is_main and step % sample_every:
                    _write_png(run_dir / "samples" / f"step_{step:07d}.png",
                               sample_grid(sample_batch, trainer.render(sample_batch)))
                break
    stop_flag.uninstall()
    if trainer.step != last_saved:
        save()
    if context.is_main:
        log(f"done at step {trainer.step}")
        metrics_file.close()
        log_file.close()
        if writer is not None:
            writer.close()
        plot_metrics(run_dir)
    del batches
    return trainer


def main(argv: list[str] | None = None) -> int:
    """``python -m headshot.train.loop ARGS`` = ``headshot train ARGS`` (the form ``torchrun -m`` needs)."""
    from ..cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
