"""Opening media files with PyAV (FFmpeg): the checks and one-line errors every reader shares.

- :func:`check_input_file`: a missing, empty or folder path as a one-line :class:`InputError`.
- :func:`open_input`: ``av.open`` for reading, corrupt or unsupported files as one-line :class:`InputError`.
- :func:`ffmpeg_message`: FFmpeg's own words for an error, on one line.
"""

from __future__ import annotations

from pathlib import Path

import av

from ..errors import InputError

__all__ = ["check_input_file", "ffmpeg_message", "open_input"]


def ffmpeg_message(error: BaseException) -> str:
    """FFmpeg's own words for ``error`` on one line (without the errno and the file name)."""
    if isinstance(error, av.FFmpegError) and error.strerror:
        return str(error.strerror)  # str() would add the errno and the file name
    text = " ".join(str(error).split())
    return text or type(error).__name__


def check_input_file(path: Path, what: str) -> None:
    """``InputError`` (one line) if ``path`` is missing, a folder, or empty; ``what`` names it."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if path.is_dir():
        raise InputError(f"expected a {what} file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{what} file is empty: {path}")


def open_input(path: Path, what: str) -> av.container.InputContainer:
    """``av.open(path)`` for reading after :func:`check_input_file`; ``what`` names the file in messages.

    Raises :class:`InputError` (one line) for a missing, empty, corrupt or unsupported file.
    """
    check_input_file(path, what)
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as error:
        raise InputError(f"cannot read {what} {path}: corrupt or unsupported ({ffmpeg_message(error)})") from None
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None
