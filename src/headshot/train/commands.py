"""``headshot prepare``, ``headshot train`` and ``headshot finetune``: thin CLI wrappers over ``headshot.train``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the training subcommands to the ``headshot`` app.

    The commands import their modules when they run, not here: those load torch and MediaPipe, and
    ``headshot --help`` must stay fast.
    """

    @app.command("prepare")
    def prepare(
        videos_dir: Path = typer.Argument(..., help="Folder of videos: VoxCeleb2 layout id/video/clip.mp4 or "
                                                    "flat <identity>__<name>.mp4 files."),
        dataset_dir: Path = typer.Argument(..., help="Output folder (shards/ + index.json); re-run to resume."),
        size: int = typer.Option(256, help="Side of the square face crops, pixels."),
        workers: int = typer.Option(1, help="Parallel processes (each runs its own face landmarker)."),
        every: int = typer.Option(1, help="Keep every K-th frame."),
        max_frames: Optional[int] = typer.Option(None, help="Keep at most N frames per clip."),
        cluster: Optional[str] = typer.Option(None, "--cluster", help="Spread the clips over a Ray cluster: auto, "
                                              "local or an address (head:6379); folders on a path every node "
                                              "sees; needs pip install 'headshot\\[cluster]'. Ignores --workers."),
        guides: int = typer.Option(0, help="Also store N warp guides per clip for warp-guided models "
                                           "(computed once here instead of once per training episode)."),
        identity: bool = typer.Option(False, "--identity", help="Also store each frame's SFace identity embedding "
                                      "(train key identity_weight); on a finished dataset only the missing ones."),
    ) -> None:
        """Detect, crop and store the faces of a folder of talking-head videos as a training set."""
        from ..errors import InputError
        from .prepare import prepare_dataset

        if guides < 0:
            raise InputError(f"--guides must be 0 or more, got {guides}")
        index = prepare_dataset(videos_dir, dataset_dir, size=size, workers=workers, every=every,
                                max_frames=max_frames, cluster=cluster)
        frames = sum(record["frames"] for record in index["videos"])
        typer.echo(f"{len(index['videos'])} clips, {frames} frames in {dataset_dir} "
                   f"({len(index['failures'])} failed, listed in index.json)")
        if guides:
            from .guides import add_guides

            typer.echo(f"{add_guides(dataset_dir, guides)} warp guides written")
        if identity:
            from .identity import add_identity

            typer.echo(f"{add_identity(dataset_dir)} frames given SFace identity embeddings")
        for failure in index["failures"]:
            typer.echo(f"  skipped {failure['clip']}: {failure['error']}")

    @app.command("train")
    def train(
        config: Path = typer.Option(..., help="Model + training YAML (configs/*.yaml)."),
        data: Path = typer.Option(..., help="Dataset folder written by headshot prepare."),
        run: Path = typer.Option(..., "--run", "--run-dir",
                                 help="Run folder: config copy, log, metrics, samples, checkpoints "
                                      "(under torchrun write --run-dir: torchrun takes --run as its --run-path)."),
        steps: Optional[int] = typer.Option(None, help="Total steps (default: the config's train.steps)."),
        device: str = typer.Option("cpu", help="cpu, cuda or cuda:N (under torchrun: each rank's LOCAL_RANK GPU)."),
        resume: bool = typer.Option(False, help="Continue from the run folder's newest checkpoint."),
        max_minutes: Optional[float] = typer.Option(None, help="Stop (with a checkpoint) after this wall-clock time."),
        threads: Optional[int] = typer.Option(None, help="torch CPU threads per process."),
        workers: Optional[int] = typer.Option(None, help="Data-loading processes per rank (default: config)."),
        init_from: Optional[Path] = typer.Option(None, help="Start a fresh run from the weights of another run's "
                                                 "training checkpoint (same data; its step count carries on, "
                                                 "the optimisers restart). Ignored when --resume finds one."),
    ) -> None:
        """Meta-learn the embedder, generator and discriminator (Zakharov et al. 2019) on a prepared dataset.

        Multi-GPU / multi-process: torchrun --nproc_per_node=N -m headshot train --config ... --run-dir ...
        (the same options).
        """
        from .loop import TrainOptions, train as run_training

        trainer = run_training(TrainOptions(config=config, data=data, run=run, steps=steps, device=device,
                                            resume=resume, max_minutes=max_minutes, threads=threads,
                                            workers=workers, init_from=init_from))
        if trainer.context.is_main:
            typer.echo(f"trained to step {trainer.step}; run folder {run}")

    @app.command("finetune", context_settings={"allow_extra_args": True})
    def finetune(
        context: typer.Context,
        shots: List[Path] = typer.Option(..., "--shots", help="Photos (or frames) of the new person: "
                                                              "--shots a.jpg b.jpg c.jpg ..."),
        output: Path = typer.Option(..., "-o", "--output", help="Person file to write (.safetensors)."),
        steps: Optional[int] = typer.Option(None, help="Fine-tuning steps (default: the model's train.finetune_steps "
                                                       "epochs over the shots)."),
        model: Optional[Path] = typer.Option(None, help="Base model file (default: the bundled default model)."),
        device: str = typer.Option("cpu", help="cpu or cuda."),
        feed_forward: bool = typer.Option(False, "--feed-forward",
                                          help="No fine-tuning: store only ê (the paper's FF model)."),
    ) -> None:
        """Fine-tune the model on a few photos of a new person (the paper's FT model) into a person file."""
        from ..errors import InputError
        from .finetune import FinetuneOptions, finetune_person

        extra = [arg for arg in context.args]
        unknown = [arg for arg in extra if arg.startswith("-")]
        if unknown:
            raise InputError(f"unknown option(s) for finetune: {' '.join(unknown)}")
        shots = list(shots) + [Path(arg) for arg in extra]  # --shots a.jpg b.jpg ...: the rest arrive as extras

        result = finetune_person(FinetuneOptions(shots=list(shots), output=output, steps=steps, model=model,
                                                 device=device, feed_forward=feed_forward))
        typer.echo(f"wrote {output} ({result['shots']} shots, {result['steps']} steps)")
