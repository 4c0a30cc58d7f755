"""Helpers for the web app's browser tests (and the docs screenshots): Chromium, a fake camera, page steps.

Chromium is Debian's (``/usr/bin/chromium``, or ``HEADSHOT_CHROMIUM``), driven by Playwright for Python with
no browser download. The fake camera plays a ``.y4m`` file written at test time (never committed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The Chromium executable to drive, or ``None`` when there is none."""
    explicit = os.environ.get("HEADSHOT_CHROMIUM")
    if explicit:
        return explicit
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def fake_camera_args(y4m: Path) -> list[str]:
    """Chromium flags: allow the camera without asking, and play ``y4m`` as the camera."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", "--no-sandbox", "--disable-dev-shm-usage"]


def write_y4m(frames, path: Path, fps: int = 25) -> Path:
    """Write RGB uint8 frames (even sizes) as an uncompressed YUV4MPEG2 (4:2:0) file, Chromium's fake camera format."""
    from headshot.io.video_writer import rgb_to_yuv420p

    frames = list(frames)
    height, width = frames[0].shape[:2]
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode())
        for rgb in frames:
            handle.write(b"FRAME\n")
            handle.write(np.ascontiguousarray(rgb_to_yuv420p(rgb)).tobytes())
    return path


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page, element_id: str, *paths) -> None:
    """Put files into the upload of the component ``element_id`` and wait until Gradio shows them."""
    page.locator(f"#{element_id} input[type=file]").first.set_input_files([str(p) for p in paths])


def toast_text(page, timeout_ms: int = 60_000) -> str:
    """The text of the first error message Gradio shows (a toast)."""
    toast = page.locator("[data-testid=toast-text]").first
    toast.wait_for(timeout=timeout_ms)
    return toast.inner_text()
