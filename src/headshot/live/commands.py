"""``headshot live``: a camera drives the portrait in a window (and/or a recording)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_options import cli_option, to_options


def live(
    source: Path = typer.Argument(..., help="Portrait photo (jpg, png, webp, ...)."),
    camera: str = typer.Option("0", "--camera", "-c", help="Camera index (0, 1, ...) or a video file standing in for a camera."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also record the animated portrait to this video (.mp4), marked and signed."),
    no_window: bool = typer.Option(False, "--no-window", help="Do not show a window (record with --output)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many camera frames."),
    full_photo: bool = typer.Option(False, "--full-photo", help="Show the whole photo with the face pasted back (default: the face crop)."),
    size: Optional[int] = cli_option("size", help="Side of the face crop (default 512), or the photo's long side with --full-photo."),
    engine: str = cli_option("engine"),
    absolute: bool = cli_option("absolute"),
    regions: str = cli_option("regions"),
    expression_scale: float = cli_option("expression_scale"),
    pose_scale: float = cli_option("pose_scale"),
    smoothing: float = cli_option("smoothing"),
    face_index: int = cli_option("face_index"),
    label: bool = cli_option("label"),
    no_watermark: bool = cli_option("no_watermark"),
    no_credentials: bool = cli_option("no_credentials"),
) -> None:
    """Drive the portrait live from a camera (or a video file) in a window that shows fps; q or Esc stops, r recalibrates."""
    from ..options import AnimateOptions
    from .desktop import run_live
    from .session import LIVE_SIZE

    values = to_options(engine=engine, absolute=absolute, regions=regions, expression_scale=expression_scale,
                        pose_scale=pose_scale, smoothing=smoothing, face_index=face_index, label=label,
                        no_watermark=no_watermark, no_credentials=no_credentials, size=size)
    if not full_photo and values.get("size") is None:
        values["size"] = LIVE_SIZE
    options = AnimateOptions(crop_only=not full_photo, **values)
    result = run_live(source, camera, output, window=not no_window, max_frames=max_frames, options=options)
    typer.echo(f"{result.frames} frames, {result.stats.line()}"
               + (f"; wrote {result.output}" if result.output is not None else ""))


def register(app: typer.Typer) -> None:
    app.command(epilog="Recordings carry an invisible watermark and C2PA content credentials.")(live)
