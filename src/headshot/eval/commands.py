"""``headshot eval``: measure engines on the field's protocols, side by side with two baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError


def register(app: typer.Typer) -> None:
    """Add the ``eval`` subcommand to the headshot CLI."""

    @app.command("eval")
    def eval_command(
        engine: list[str] = typer.Option(["warp"], "--engine", "-e",
                                         help="Engine(s) to measure; repeat or comma-separate. Baselines "
                                              "(unmoved source, similarity warp) always run too."),
        data: Path = typer.Option(..., "--data", help="Data folder: videos/ (flat or id/video/clip.mp4) and "
                                                      "optionally portraits/."),
        out: Path = typer.Option(Path("runs/eval"), "--out", help="Run folder for results, plots, sheets."),
        protocol: str = typer.Option("all", "--protocol", help="self, fewshot, cross, turned, or all (comma list "
                                     "ok; all = self, fewshot, cross); turned: source = each clip's most turned "
                                     "frame (|yaw| >= 20°); or lipsync alone (clips with audio; see "
                                     "headshot.eval.lipsync)."),
        max_frames: int = typer.Option(8, "--max-frames", min=1, help="Target frames per clip."),
        stride: int = typer.Option(6, "--stride", min=1, help="Use every K-th frame."),
        max_videos: Optional[int] = typer.Option(None, "--max-videos", min=1,
                                                 help="Only the first N self-reenactment, turned (or lipsync) "
                                                      "clips (quick runs)."),
        turned_frames: int = typer.Option(16, "--turned-frames", min=1, help="turned: target frames per clip, "
                                          "spread over the yaw change from the source."),
        fewshot_videos: int = typer.Option(8, "--fewshot-videos", min=1,
                                           help="Clips (one per identity) in the few-shot protocol."),
        cross_portraits: int = typer.Option(12, "--cross-portraits", min=1,
                                            help="Portraits (one per identity) in the cross-identity protocol."),
        manifest: Optional[Path] = typer.Option(None, "--manifest", help="Manifest JSON fixing the frame "
                                                "selection (a run writes its own as manifest.json)."),
        portraits: Optional[Path] = typer.Option(None, "--portraits", help="Portraits folder "
                                                 "(default DATA/portraits)."),
        lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="LPIPS VGG16/AlexNet weights "
                                                     "(backbone + lin layers); LPIPS is skipped without it."),
        inception_weights: Optional[Path] = typer.Option(None, "--inception-weights", help="TorchScript "
                                                         "Inception-v3 for a standard FID; skipped without it."),
        neural_model: Optional[Path] = typer.Option(None, "--neural-model", help="Model or person file for "
                                                    "--engine neural (default: the bundled model)."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse per-video results cached in "
                                                                       "the run folder."),
        contact_sheets: bool = typer.Option(True, "--contact-sheets/--no-contact-sheets"),
        identity: str = typer.Option("sface", "--identity", help="Identity embedders for CSIM: sface, or both "
                                     "(adds dlib's ResNet as a cross-check column, CSIM dlib; needs "
                                     "pip install 'headshot\\[dlib]'; about +60 ms per scored face)."),
        finetune_steps: Optional[int] = typer.Option(None, "--finetune-steps", min=1, help="Steps of the "
                                                     "few-shot fine-tuned rows (default: the engine's own, "
                                                     "e.g. the neural model's train.finetune_steps epochs)."),
        lipsync_methods: str = typer.Option("all", "--lipsync-methods", help="lipsync rows, comma list: phones, "
                                            "learned, phones+learned, phones+learned-shipped, energy, talk, real, "
                                            "energy-curve, jawOpen "
                                            "(all: every one that can run here)."),
        audio2mouth_weights: Optional[Path] = typer.Option(None, "--audio2mouth-weights", help="lipsync: weights "
                                                           "of the learned audio → mouth model (default: shipped), "
                                                           "or its training run folder: each clip scored by the "
                                                           "fold model that never saw its speaker."),
        say_portraits: int = typer.Option(6, "--say-portraits", min=0, help="lipsync: portraits for the say "
                                          "check (bilabial closure from text to speech; 0 skips it)."),
        cluster: Optional[str] = typer.Option(None, "--cluster", help="Compute the items on a Ray cluster: auto, "
                                              "local or an address (head:6379); data and run folder on a path "
                                              "every node sees; needs pip install 'headshot\\[cluster]'."),
        split: Optional[Path] = typer.Option(None, "--split", help="Identity split file (configs/splits/dev.yaml): "
                                             "evaluate only its held-out people, whom training never saw."),
    ) -> None:
        """Evaluate engines: self-reenactment, few-shot and cross-identity metrics, tables, plots, sheets."""
        from .data import SelectionSettings
        from .runner import DEFAULT_PROTOCOLS, PROTOCOLS, EvalOptions, run_evaluation

        names = [name.strip() for item in engine for name in item.split(",") if name.strip()]
        if "lipsync" in [p.strip() for p in protocol.split(",")]:
            if cluster:
                raise InputError("--cluster computes the self, fewshot, cross and turned protocols; run lipsync "
                                 "without it")
            _run_lipsync(protocol, names, data, out, max_videos, resume, contact_sheets, lipsync_methods,
                         audio2mouth_weights, say_portraits)
            return
        protocols = (list(DEFAULT_PROTOCOLS) if protocol == "all"
                     else [p.strip() for p in protocol.split(",") if p.strip()])
        unknown = [p for p in protocols if p not in PROTOCOLS]
        if unknown:
            raise InputError(f"unknown protocol {unknown[0]!r}; choose from self, fewshot, cross, turned, all, lipsync")
        if not data.is_dir():
            raise InputError(f"data folder not found: {data}")
        heldout = None
        if split is not None:
            from ..train.split import load_split

            heldout = tuple(sorted(load_split(split)))
        engine_options = {}
        if neural_model is not None:
            if not neural_model.is_file():
                raise InputError(f"neural model file not found: {neural_model}")
            engine_options["neural"] = {"model_path": str(neural_model)}
        options = EvalOptions(
            engines=names, data=data, out=out, protocols=protocols,
            selection=SelectionSettings(max_frames=max_frames, stride=stride, fewshot_videos=fewshot_videos,
                                        cross_portraits=cross_portraits, max_videos=max_videos,
                                        turned_frames=turned_frames, identities=heldout),
            manifest=manifest, portraits=portraits, lpips_weights=lpips_weights,
            inception_weights=inception_weights, engine_options=engine_options, resume=resume,
            contact_sheets=contact_sheets, identity=identity, finetune_steps=finetune_steps, cluster=cluster)
        run_evaluation(options)
        typer.echo((out / "results.md").read_text())
        typer.echo(f"results in {out}/ (results.json, results.md, per_video.csv, plots/, contact_sheets/)")


def _run_lipsync(protocol: str, engines: list[str], data: Path, out: Path, max_videos: Optional[int], resume: bool,
                 contact_sheets: bool, methods: str, audio2mouth_weights: Optional[Path], say_portraits: int) -> None:
    """``--protocol lipsync``: its own run folder layout (results.md, per_clip.csv), so it runs alone."""
    from .lipsync import LipsyncOptions
    from .lipsync_run import run_lipsync

    if protocol.strip() != "lipsync":
        raise InputError("--protocol lipsync runs alone (its run folder differs); run the others separately")
    if len(engines) != 1:
        raise InputError("--protocol lipsync renders with one engine; pass a single --engine")
    if not data.is_dir():
        raise InputError(f"data folder not found: {data}")
    if audio2mouth_weights is not None and not (audio2mouth_weights.is_file()
                                                or (audio2mouth_weights / "folds").is_dir()
                                                or (audio2mouth_weights / "predictions").is_dir()):
        raise InputError(f"audio2mouth weights not found: {audio2mouth_weights} (a .safetensors file, or a "
                         f"training run folder with folds/ or predictions/)")
    names = [name.strip() for name in methods.split(",") if name.strip()]
    options = LipsyncOptions(data=data, out=out, engine=engines[0], methods=None if names == ["all"] else names,
                             max_videos=max_videos, audio2mouth_weights=audio2mouth_weights,
                             say_sources=say_portraits, resume=resume, contact_sheets=contact_sheets)
    run_lipsync(options)
    typer.echo((out / "results.md").read_text())
    typer.echo(f"results in {out}/ (results.json, results.md, per_clip.csv, plots/, contact_sheets/lipsync/)")
