"""The meta-learning run behind ``headshot train``: data, the step loop, logs, samples and checkpoints.

The networks and their updates are :class:`headshot.train.trainer.Trainer`'s; this module runs it.

The run folder holds ``config.yaml`` (the merged configuration), ``log.txt``, ``metrics.csv``,
``losses.png``, ``samples/step_NNNNNNN.png`` (rows: shots | target sketch | generated | target),
``checkpoints/step_NNNNNNN.safetensors`` (see :mod:`headshot.train.checkpoints`), ``model.safetensors``
(the inference model of the newest checkpoint) and TensorBoard events under ``tensorboard/``.

Distributed: run the same command under ``torchrun --nproc_per_node=N -m headshot train ...``; E, G and D
are wrapped in DistributedDataParallel, each rank draws different episodes of the same seeded stream,
and rank 0 writes the run folder.
"""

from __future__ import annotations

import csv
import dataclasses
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import HeadshotError, InputError
from ..io.atomic import atomic_write_text
from ..neural.config import ModelConfig, TrainConfig, load_config
from . import checkpoints as ckpt
from .dataset import EpisodeDataset, EpisodeSampler
from .distributed import DistributedContext, all_reduce_mean, any_rank, barrier, setup, teardown
from .samples import fixed_batch, plot_metrics, sample_grid, write_png
from .split import load_split, resolve_split_path
from .trainer import Trainer, export_model

METRIC_COLUMNS = ("step", "elapsed_s", "images_per_s", "d_loss", "g_loss", "content", "l1", "adversarial",
                  "feature_matching", "embedding_match", "real_score", "fake_score", "l1_to_target", "psi_rms",
                  "identity", "e_share")
LOSS_COLUMNS = METRIC_COLUMNS[3:]


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
    echo: bool = False                      # also print the log's lines (runs whose output is a log file)
    init_from: Path | None = None           # a fresh run starts from this training checkpoint's weights


def resolve_config(options: TrainOptions) -> tuple[ModelConfig, TrainConfig]:
    """The YAML's configuration with ``options``' overrides, ``steps`` and ``workers`` applied (checked:
    an unknown override key is a :class:`~headshot.neural.config.ConfigError`)."""
    model_cfg, train_cfg = load_config(options.config)
    changes = dict(options.overrides)
    if options.steps is not None:
        changes["steps"] = int(options.steps)
    if options.workers is not None:
        changes["workers"] = int(options.workers)
    return model_cfg, train_cfg.updated(changes)


def train(options: TrainOptions) -> Trainer:
    """Run (or resume) a training run as described by ``options``; returns the trainer at the end.

    Stops after ``steps`` steps (of the config or ``options.steps``), after ``max_minutes`` of wall-clock
    time, or on SIGTERM/SIGINT, always writing a final checkpoint. Raises :class:`HeadshotError` for a run
    folder that already has checkpoints without ``resume``.
    """
    started = time.monotonic()
    context = setup(options.device)
    try:
        return _Run(options, context, started).run()
    finally:
        teardown(context)


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


class RunLog:
    """The run folder's ``log.txt``, ``metrics.csv`` and TensorBoard events; written by rank 0 only (every
    method is a no-op on the other ranks)."""

    def __init__(self, run_dir: Path, enabled: bool, echo: bool = False):
        self.run_dir = run_dir
        self.enabled = enabled
        self.echo = echo and enabled
        self.writer = self._metrics_file = self._log_file = self._metrics = None
        if not enabled:
            return
        try:  # tensorboard is optional at run time
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            self.writer = None
        new_metrics = not (run_dir / "metrics.csv").is_file()
        self._metrics_file = open(run_dir / "metrics.csv", "a", newline="")
        self._metrics = csv.writer(self._metrics_file)
        if new_metrics:
            self._metrics.writerow(METRIC_COLUMNS)
        self._log_file = open(run_dir / "log.txt", "a")

    def line(self, text: str) -> None:
        if self._log_file is not None:
            self._log_file.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")
            self._log_file.flush()
        if self.echo:
            print(text, flush=True)

    def metrics(self, step: int, elapsed_s: float, rate: float, means: dict[str, float],
                steps_per_s: float | None = None) -> None:
        """One ``metrics.csv`` row, TensorBoard scalars and a log line; ``means`` has the logged losses."""
        if not self.enabled:
            return
        row = [step, round(elapsed_s, 2), round(rate, 3)]
        row += [f"{means[key]:.6g}" if key in means else "" for key in LOSS_COLUMNS]
        self._metrics.writerow(row)
        self._metrics_file.flush()
        if self.writer is not None:
            self.writer.add_scalar("throughput/images_per_s", rate, step)
            for key in LOSS_COLUMNS:
                if key in means:
                    self.writer.add_scalar(f"loss/{key}", means[key], step)
        self.line(f"step {step} | " + " | ".join(f"{key} {means[key]:.4g}" for key in LOSS_COLUMNS if key in means)
                  + f" | {rate:.2f} img/s" + (f" | {steps_per_s:.2f} steps/s" if steps_per_s else ""))

    def image(self, name: str, rgb, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(name, rgb, step, dataformats="HWC")

    def close(self) -> None:
        for handle in (self._metrics_file, self._log_file, self.writer):
            if handle is not None:
                handle.close()


class _Window:
    """Sums of the logged values since the last log line, and the images trained on meanwhile."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.images = self.steps = 0
        self.started = time.monotonic()

    def add(self, logged: dict[str, float], images: int) -> None:
        for key, value in logged.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.images += images
        self.steps += 1

    def rate(self) -> float:
        return self.images / max(time.monotonic() - self.started, 1e-9)

    def step_rate(self) -> float:
        return self.steps / max(time.monotonic() - self.started, 1e-9)

    def means(self, context: DistributedContext) -> dict[str, float]:
        """Mean over the window's steps and over the ranks of every loss column (all ranks must call it)."""
        means = {key: all_reduce_mean(self.sums.get(key, 0.0) / self.steps, context) for key in LOSS_COLUMNS}
        return {key: value for key, value in means.items() if key in self.sums}


class _Run:
    """One call of :func:`train`: the run folder, the data stream and the loop around the trainer."""

    def __init__(self, options: TrainOptions, context: DistributedContext, started: float):
        self.options, self.context, self.started = options, context, started
        self.model_cfg, self.cfg = resolve_config(options)
        if options.threads:
            torch.set_num_threads(int(options.threads))
        self.run_dir = Path(options.run)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        existing = ckpt.list_checkpoints(self.checkpoint_dir)
        if existing and not options.resume:
            raise HeadshotError(f"{self.run_dir} already has checkpoints: pass --resume or choose another --run")
        if self.cfg.batch_size % context.world_size:
            raise InputError(f"batch_size {self.cfg.batch_size} is the global batch (episodes per step over all "
                             f"{context.world_size} processes): make it a multiple of {context.world_size}")
        self.rank_batch = self.cfg.batch_size // context.world_size  # each rank's share of the global batch
        self.dataset = self._dataset("train", augment=self.cfg.augment)
        self.trainer = Trainer(self.model_cfg, self.cfg, self.dataset.num_videos, context)
        self.position = 0  # episodes of the global stream consumed so far (all ranks)
        self.sample_batch: dict | None = None  # rank 0: the episodes of every sample grid (set by run())
        self.log: RunLog | None = None
        if options.resume and existing:
            self._resume(existing[-1][1])
        elif options.init_from is not None:
            self._init_from(Path(options.init_from))
        elif self.cfg.seed_w_from_embeddings:
            self.trainer.seed_w_columns(self.dataset, self.cfg.seed)
        if context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            merged = {"model": dataclasses.asdict(self.model_cfg), "train": self.cfg.to_dict()}
            atomic_write_text(self.run_dir / "config.yaml", yaml.safe_dump(merged, sort_keys=False))
        barrier(context)

    def _dataset(self, split: str, augment: bool = False) -> EpisodeDataset:
        cfg, options = self.cfg, self.options
        heldout = None
        if cfg.split_file:
            heldout = load_split(resolve_split_path(cfg.split_file, options.config))
        return EpisodeDataset(options.data, shots=cfg.shots, image_size=self.model_cfg.image_size, split=split,
                              val_fraction=cfg.val_fraction, split_seed=cfg.seed, sketch=self.model_cfg.sketch,
                              augment=augment, seed=cfg.seed, clips=options.clips,
                              max_frames=options.max_frames, warp_guided=self.model_cfg.warp_guided,
                              heldout=heldout, identity=split == "train" and cfg.identity_weight > 0)

    def _resume(self, path: Path) -> None:
        step, extra = ckpt.load_checkpoint(path, self.trainer.modules(), self.trainer.optimizers())
        if extra.get("videos") != self.dataset.videos:
            raise InputError(f"{path} was trained on other videos than {self.options.data} gives")
        self.trainer.step = step
        self.position = int(extra["position"])

    def _init_from(self, path: Path) -> None:
        """E, G, D and their EMAs from another run's checkpoint on the same videos (``--init-from``): the step
        count and the episode stream carry on from it (step N here is N of a continuation of that run); the
        optimisers and any module it lacks (the identity head) start fresh."""
        if not path.is_file():
            raise InputError(f"--init-from checkpoint not found: {path}")
        states, extra = ckpt.read_modules(path)
        if extra.get("videos") != self.dataset.videos:
            raise InputError(f"{path} was trained on other videos than {self.options.data} gives")
        modules = self.trainer.modules()
        for name in ("E", "G", "D", "E_ema", "G_ema"):
            try:
                modules[name].load_state_dict(states[name], strict=True)
            except (KeyError, RuntimeError) as error:
                first = str(error).strip().splitlines()[0]
                raise InputError(f"{path}: its {name} weights do not fit this config's model ({first})") from None
        self.trainer.step = ckpt.checkpoint_step(path)
        self.position = int(extra["position"])

    def _batches(self):
        """The endless iterator of training batches of this rank, from the stream's current position."""
        sampler = EpisodeSampler(len(self.dataset), self.cfg.seed, self.context.rank, self.context.world_size,
                                 start=self.position)
        workers = self.cfg.workers
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=self.rank_batch, sampler=sampler,
                                             num_workers=workers, pin_memory=self.context.device.type == "cuda",
                                             prefetch_factor=4 if workers else None, persistent_workers=False)
        return iter(loader)

    def _sample_batch(self) -> dict:
        """Fixed episodes of held-out identities for the sample grids (training episodes when none is held out)."""
        try:
            val = self._dataset("val")
        except InputError:  # no held-out identity (tiny datasets): show training episodes
            val = self.dataset
        return fixed_batch(val, self.cfg.sample_rows, self.cfg.seed + 1)

    def save(self) -> None:
        """Checkpoint (rank 0 writes), prune old checkpoints, export ``model.safetensors``, plot the losses."""
        trainer, dataset, cfg = self.trainer, self.dataset, self.cfg
        if self.context.is_main:
            world_size = self.context.world_size
            extra = {"position": self.position, "videos": dataset.videos, "model_config": self.model_cfg.to_json(),
                     "train_config": cfg.to_dict(), "world_size": world_size}
            path = ckpt.save_checkpoint(ckpt.checkpoint_path(self.checkpoint_dir, trainer.step), trainer.step,
                                        trainer.modules(), trainer.optimizers(), extra)
            ckpt.prune_checkpoints(self.checkpoint_dir, cfg.keep_checkpoints)
            export_model(trainer, self.run_dir / "model.safetensors",
                         {"step": trainer.step, "videos": len(dataset.videos), "identities": len(dataset.identities),
                          "data": str(self.options.data), "world_size": world_size})
            plot_metrics(self.run_dir)
            self.log.line(f"checkpoint {path.name}")
        barrier(self.context)

    def write_sample(self, step: int) -> None:
        grid = sample_grid(self.sample_batch, self.trainer.render(self.sample_batch))
        write_png(self.run_dir / "samples" / f"step_{step:07d}.png", grid)
        self.log.image("samples", grid, step)

    def run(self) -> Trainer:
        """Train to the configured step (or a stop), then write the last checkpoint and close the logs."""
        batches = self._batches()  # before the sample batch: the loader's seed draw keeps its place
        self.sample_batch = self._sample_batch() if self.context.is_main else None
        self.log = RunLog(self.run_dir, self.context.is_main, self.options.echo)
        self.log.line(f"start step {self.trainer.step}/{self.cfg.steps} rank 0 of {self.context.world_size} on "
                      f"{self.context.device}; {len(self.dataset)} clips, {self.dataset.num_videos} videos, "
                      f"batch {self.cfg.batch_size} ({self.rank_batch}/rank)")
        stop_flag = _StopFlag()
        stop_flag.install()
        try:
            last_saved = self._loop(batches, stop_flag)
        finally:
            stop_flag.uninstall()
        if self.trainer.step != last_saved:
            self.save()
        self.log.line(f"done at step {self.trainer.step}")
        self.log.close()
        if self.context.is_main:
            plot_metrics(self.run_dir)
        del batches
        return self.trainer

    def _loop(self, batches, stop_flag: _StopFlag) -> int:
        """The step loop; returns the step of the last checkpoint written."""
        trainer, cfg, context = self.trainer, self.cfg, self.context
        per_step = trainer.d_steps + 1
        images_per_step = per_step * cfg.batch_size  # the global batch
        deadline = self.started + self.options.max_minutes * 60 if self.options.max_minutes else None
        window = _Window()
        last_saved, last_saved_time = trainer.step, time.monotonic()
        progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                            TextColumn("{task.fields[loss]}"), TimeElapsedColumn(),
                            disable=not (self.options.progress and context.is_main))
        with progress:
            task = progress.add_task("steps", total=cfg.steps, completed=trainer.step, rate="", loss="")
            while trainer.step < cfg.steps:
                step_batches = [next(batches) for _ in range(per_step)]
                self.position += images_per_step
                window.add(trainer.train_step(step_batches), images_per_step)
                step = trainer.step
                if step % cfg.log_every == 0 or step == cfg.steps:
                    rate, means = window.rate(), window.means(context)
                    self.log.metrics(step, time.monotonic() - self.started, rate, means, window.step_rate())
                    progress.update(task, rate=f"{rate:.2f} img/s",
                                    loss=f"G {means['g_loss']:.3f} D {means.get('d_loss', 0.0):.3f}")
                    window = _Window()
                progress.update(task, completed=step)
                if context.is_main and (step % cfg.sample_every == 0 or step == cfg.steps):
                    self.write_sample(step)
                overdue = time.monotonic() - last_saved_time > cfg.checkpoint_minutes * 60
                if step % cfg.checkpoint_every == 0 or any_rank(overdue, context):
                    self.save()
                    last_saved, last_saved_time = step, time.monotonic()
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if any_rank(out_of_time or stop_flag.stop, context):
                    self.log.line(f"stopping at step {step}: " + ("time limit" if out_of_time else "signal"))
                    if context.is_main and step % cfg.sample_every:
                        self.write_sample(step)
                    break
        return last_saved
