"""Core subcommands: animate, demo, say, extract-motion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from .cli_options import cli_option, to_options
from .errors import HeadshotError
from .options import SAY_FPS

EPILOG = "Outputs carry an invisible watermark and C2PA content credentials; check any file with `headshot verify`."


def _progress_bar():
    """A rich progress display; each task shows its rate in its own unit (``fps``, ``chars/s``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>6.1f} {task.fields[unit]}"), TimeRemainingColumn(),
                    transient=False)


def _task_updater(bar, label: str, unit: str = "fps"):
    """A ``update(done, total, *_)`` callback that adds a ``label`` task to ``bar`` on its first call."""
    state = {"task": None, "start": None}

    def update(done: int, total: int, *_):
        if state["task"] is None:
            state["task"] = bar.add_task(label, total=total or None, rate=0.0, unit=unit)
            state["start"] = time.perf_counter()
        elapsed = max(1e-6, time.perf_counter() - state["start"])
        if total and done > total:
            bar.update(state["task"], total=done)
        bar.update(state["task"], completed=done, rate=done / elapsed)

    return update


def _progress_reporter(label: str):
    """A rich progress bar with frames/s; returns (context manager, callback)."""
    bar = _progress_bar()
    return bar, _task_updater(bar, label)


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
    source: List[Path] = typer.Argument(..., help="Portrait photo (jpg, png, webp, ...); several photos of one person "
                                        "(a.jpg b.jpg ...): the first is animated, each part of the face comes "
                                        "from the photo that sees it best."),
    driver: Optional[Path] = typer.Option(None, "--driver", "-d", help="Driving video, image, or .motion template."),
    output: Path = typer.Option(Path("out.mp4"), "--output", "-o", help="Output video (.mp4) or image (for an image driver)."),
    motion: Optional[str] = cli_option("motion", "-m"),
    audio: Optional[Path] = cli_option("audio", "-a"),
    transcript: Optional[str] = cli_option("transcript"),
    seconds: Optional[float] = cli_option("seconds"),
    engine: str = cli_option("engine"),
    model: Optional[Path] = cli_option("model"),
    absolute: bool = cli_option("absolute"),
    reference: str = cli_option("reference"),
    regions: str = cli_option("regions"),
    expression_scale: float = cli_option("expression_scale"),
    pose_scale: float = cli_option("pose_scale"),
    smoothing: float = cli_option("smoothing"),
    crop_only: bool = cli_option("crop_only"),
    size: Optional[int] = cli_option("size"),
    fps: Optional[float] = cli_option("fps"),
    max_frames: Optional[int] = cli_option("max_frames"),
    face_index: int = cli_option("face_index"),
    side_by_side: bool = cli_option("side_by_side"),
    label: bool = cli_option("label"),
    no_watermark: bool = cli_option("no_watermark"),
    no_credentials: bool = cli_option("no_credentials"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print milliseconds per stage."),
) -> None:
    """Animate a portrait (or several photos of one person) with a driving video, an image, a saved .motion template, a preset or a voice recording."""
    if driver is None and motion is None and audio is None:
        raise HeadshotError("give a driver (--driver talk.mp4 | photo.jpg | talk.motion), a preset (--motion talk) "
                            "or a voice recording (--audio speech.wav)")
    if driver is not None and motion is not None:
        raise HeadshotError("give either --driver or --motion, not both")
    _run_animate(source[0] if len(source) == 1 else list(source), driver, output, quiet, verbose, **to_options(
        motion=motion, seconds=seconds, engine=engine, audio=audio, transcript=transcript, model=model,
        absolute=absolute, reference=reference, regions=regions, expression_scale=expression_scale,
        pose_scale=pose_scale, smoothing=smoothing, crop_only=crop_only, size=size, fps=fps,
        max_frames=max_frames, face_index=face_index, side_by_side=side_by_side, label=label,
        no_watermark=no_watermark, no_credentials=no_credentials))


DEMO_TEXT = "Hello! I am speaking from a single photo, on your own computer."


def demo(
    output: Path = typer.Option(Path("demo.mp4"), "--output", "-o", help="Where to write the demo video."),
    text: str = typer.Option(DEMO_TEXT, help="What the astronaut says."),
    # demo's own wording: its motion is silent, its side panel shows the motion (no driver video)
    motion: Optional[str] = cli_option("motion", "-m", help="A silent built-in motion instead of speech: talk, nod, smile, blink."),
    engine: str = cli_option("engine"),
    seconds: Optional[float] = cli_option("seconds"),
    side_by_side: bool = cli_option("side_by_side", help="Show the motion beside the result."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Make the bundled public-domain portrait (NASA's astronaut photo) speak a sentence, with sound. No downloads."""
    from .assets import astronaut

    if motion is not None:
        _run_animate(astronaut(), None, output, quiet, False, motion=motion, engine=engine, seconds=seconds,
                     side_by_side=side_by_side)
        return
    if seconds is not None:
        raise HeadshotError("--seconds is the length of a --motion preset; speech lasts as long as its text")
    _run_say(astronaut(), text, None, output, quiet, engine=engine, side_by_side=side_by_side)


def _run_say(source, text: str | None, text_file: Path | None, output: Path, quiet: bool, **options) -> None:
    from .api import say as run

    bar = _progress_bar()
    speaking, animating = _task_updater(bar, "speaking", "chars/s"), _task_updater(bar, "animating")
    started = time.perf_counter()
    if quiet:
        job = run(source, text, output, text_file=text_file, **options)
    else:
        with bar:
            job = run(source, text, output, text_file=text_file, progress=animating, speaking=speaking, **options)
    elapsed = time.perf_counter() - started
    if not quiet:
        speech = job.driver.provenance.get("speech", {})
        frames = job.timer.frames
        typer.echo(f"wrote {output} ({frames} frames, {job.output_size[0]}x{job.output_size[1]}, "
                   f"{speech.get('seconds', frames / job.fps):.1f} s of speech, voice {speech.get('voice')}, "
                   f"{elapsed:.1f} s)")


def _print_voices() -> None:
    from .speech.voices import list_voices

    voices = list_voices(variants=True)
    for voice in voices[:2]:
        typer.echo(f"{voice.name:8s} {voice.description}")
        typer.echo(f"{'':8s} languages ({len(voice.languages)}): {', '.join(voice.languages)}")
        typer.echo(f"{'':8s} licence: {voice.licence}")
    variants = [voice.name for voice in voices[2:]]
    if variants:
        typer.echo(f"eSpeak NG variants ({len(variants)}), as --voice: {', '.join(variants)}")


def say(
    source: Optional[Path] = typer.Argument(None, help="Portrait photo (jpg, png, webp, ...)."),
    text: Optional[str] = typer.Argument(None, help="What to say (or --text-file)."),
    output: Path = typer.Option(Path("out.mp4"), "--output", "-o", help="Output video (.mp4) with the speech as its sound."),
    text_file: Optional[Path] = typer.Option(None, "--text-file", help="Say the text of this UTF-8 file (any length)."),
    lang: str = typer.Option("en", "--lang", help="Language code: en, es, fr, de, it, pt, ru, hi, zh ... (--list-voices lists them)."),
    voice: Optional[str] = typer.Option(None, help="Voice: joe (English, default), espeak (every language), espeak+VARIANT."),
    rate: float = typer.Option(1.0, help="Speaking rate, 0.25 to 4 (1 = normal)."),
    list_voices: bool = typer.Option(False, "--list-voices", help="List the voices and languages, then exit."),
    pose_scale: float = cli_option("pose_scale"),
    # say's own: speech moves the mouth and brows; speech has no frame rate of its own (SAY_FPS, as api.say)
    expression_scale: float = cli_option("expression_scale", help="Multiplier on mouth and brow motion, 0 to 3."),
    motion_out: Optional[Path] = typer.Option(None, "--motion-out", help="Also save the speech motion as a .motion template (no pixels)."),
    engine: str = cli_option("engine"),
    model: Optional[Path] = cli_option("model"),
    crop_only: bool = cli_option("crop_only"),
    size: Optional[int] = cli_option("size"),
    fps: float = cli_option("fps", default=SAY_FPS, help="Output frame rate, 1 to 120."),
    face_index: int = cli_option("face_index"),
    label: bool = cli_option("label"),
    no_watermark: bool = cli_option("no_watermark"),
    no_credentials: bool = cli_option("no_credentials"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Make a portrait say a text: speech synthesis (joe voice in English, eSpeak NG in ~100 languages), lips in sync, with sound."""
    if list_voices:
        _print_voices()
        return
    if source is None:
        raise HeadshotError("give a portrait photo and the text to say: headshot say photo.jpg \"Hello!\" -o out.mp4")
    if text is not None and text_file is not None:
        raise HeadshotError("give the text or --text-file, not both")
    if text is None and text_file is None:
        raise HeadshotError("give the text to say (in quotes) or --text-file FILE")
    _run_say(source, text, text_file, output, quiet, language=lang, voice=voice, rate=rate, motion_out=motion_out,
             **to_options(pose_scale=pose_scale, expression_scale=expression_scale, engine=engine, model=model,
                          crop_only=crop_only, size=size, fps=fps, face_index=face_index, label=label,
                          no_watermark=no_watermark, no_credentials=no_credentials))


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
    app.command(epilog=EPILOG)(say)
    app.command("extract-motion")(extract_motion)
