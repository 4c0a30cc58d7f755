"""Core subcommands: animate, demo, extract-motion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from .errors import HeadshotError

EPILOG = "Outputs carry an invisible watermark and C2PA content credentials; check any file with `headshot verify`."


def _progress_reporter(label: str):
    """A rich progress bar with frames/s; returns (context manager, callback)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[fps]:>5.1f} fps"), TimeRemainingColumn(), transient=False)
    state = {"task": None, "start": None}

    def update(done: int, total: int, *_):
        if state["task"] is None:
            state["task"] = bar.add_task(label, total=total or None, fps=0.0)
            state["start"] = time.perf_counter()
        elapsed = max(1e-6, time.perf_counter() - state["start"])
        if total and done > total:
            bar.update(state["task"], total=done)
        bar.update(state["task"], completed=done, fps=done / elapsed)

    return bar, update


def _regions(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _run_animate(source, driver, output: Path, quiet: bool, verbose: bool, **options) -> None:
    from .api import animate_to_file

    bar, update = _progress_reporter("animating")
    started = time.perf_counter()
    if quiet:
        job = animate_to_file(source, driver, output, **options)
    else:
        with bar:
            job = animate_to_file(source, driver, output, progress=update, **options)
    elapsed = time.perf_counter() - started
    frames = job.timer.frames
    if not quiet:
        typer.echo(f"wrote {output} ({frames} frame{'s' if frames != 1 else ''}, {job.output_size[0]}x{job.output_size[1]}, "
                   f"{frames / max(elapsed, 1e-6):.1f} fps overall)")
        if verbose:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in job.timer.ms_per_frame().items())
            typer.echo(f"ms per frame: {stages}")


def animate(
    source: Path = typer.Argument(..., help="Portrait photo (jpg, png, webp, ...)."),
    driver: Optional[Path] = typer.Option(None, "--driver", "-d", help="Driving video, image, or .motion template."),
    output: Path = typer.Option(Path("out.mp4"), "--output", "-o", help="Output video (.mp4) or image (for an image driver)."),
    motion: Optional[str] = typer.Option(None, "--motion", "-m", help="Built-in motion instead of a driver: talk, nod, smile, blink."),
    seconds: Optional[float] = typer.Option(None, help="Length of a --motion preset in seconds."),
    engine: str = typer.Option("warp", help="Renderer: warp (real time) or neural (Zakharov et al. 2019)."),
    model: Optional[Path] = typer.Option(None, help="Neural engine: model or fine-tuned person file (.safetensors)."),
    absolute: bool = typer.Option(False, "--absolute", help="Copy the driver's face shape too (same person driving)."),
    reference: str = typer.Option("auto", help="Driver frame taken as 'no motion': auto (best for videos, first for presets), first, best, or a frame number."),
    regions: str = typer.Option("pose,expression,eyes,lips", help="What to animate (comma list)."),
    expression_scale: float = typer.Option(1.0, help="Multiplier on expression motion, 0 (none) to 3."),
    pose_scale: float = typer.Option(1.0, help="Multiplier on head motion, 0 (none) to 3."),
    smoothing: float = typer.Option(0.5, min=0.0, max=1.0, help="Driver landmark smoothing, 0 (off) to 1."),
    crop_only: bool = typer.Option(False, "--crop-only", help="Output the face crop instead of the full photo."),
    size: Optional[int] = typer.Option(None, help="Crop side (--crop-only, default 512) or long side of the output, 64 to 4096 px."),
    fps: Optional[float] = typer.Option(None, help="Output frame rate (default: the driver's)."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many driver frames."),
    face_index: int = typer.Option(0, help="Which face of the photo to animate: 0 the largest (default), 1 the next, ..."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Output driver | source | result."),
    label: bool = typer.Option(False, "--label", help="Burn a small visible 'AI-generated' label into a corner."),
    no_watermark: bool = typer.Option(False, "--no-watermark", help="Research use: no invisible watermark (recorded in the credentials)."),
    no_credentials: bool = typer.Option(False, "--no-credentials", help="Do not attach C2PA content credentials."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print milliseconds per stage."),
) -> None:
    """Animate a portrait with a driving video, an image, a saved .motion template or a preset."""
    if driver is None and motion is None:
        raise HeadshotError("give a driver (--driver talk.mp4 | photo.jpg | talk.motion) or a preset (--motion talk)")
    if driver is not None and motion is not None:
        raise HeadshotError("give either --driver or --motion, not both")
    _run_animate(source, driver, output, quiet, verbose, motion=motion, seconds=seconds, engine=engine,
                 model=str(model) if model else None, mode="absolute" if absolute else "relative",
                 reference=reference, regions=_regions(regions), expression_scale=expression_scale,
                 pose_scale=pose_scale, smoothing=smoothing, crop_only=crop_only, size=size, fps=fps,
                 max_frames=max_frames, face_index=face_index, side_by_side=side_by_side, label=label,
                 watermark=not no_watermark, credentials=not no_credentials)


def demo(
    output: Path = typer.Option(Path("demo.mp4"), "--output", "-o", help="Where to write the demo video."),
    motion: str = typer.Option("talk", "--motion", "-m", help="Preset: talk, nod, smile, blink."),
    engine: str = typer.Option("warp", help="Renderer: warp or neural."),
    seconds: Optional[float] = typer.Option(None, help="Length in seconds."),
    side_by_side: bool = typer.Option(False, "--side-by-side", help="Show the motion beside the result."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Animate the bundled public-domain portrait (NASA's astronaut photo) with a built-in motion. No downloads."""
    from .assets import astronaut

    _run_animate(astronaut(), None, output, quiet, False, motion=motion, engine=engine, seconds=seconds,
                 side_by_side=side_by_side)


def extract_motion(
    driver: Path = typer.Argument(..., help="Driving video."),
    output: Path = typer.Option(..., "--output", "-o", help="Template file to write (.motion)."),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many frames."),
) -> None:
    """Save a video's facial motion (landmarks only, no pixels) as a reusable .motion template."""
    from .api import extract_motion as run

    bar, update = _progress_reporter("extracting")
    with bar:
        run(driver, output, max_frames=max_frames, progress=update)
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(animate)
    app.command(epilog=EPILOG)(demo)
    app.command("extract-motion")(extract_motion)
