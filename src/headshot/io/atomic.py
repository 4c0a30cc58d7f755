"""Outputs that appear whole or not at all.

Every writer in headshot writes to a hidden temporary file in the destination folder and renames it into
place with :func:`os.replace` only when it has finished; on any failure the temporary file is deleted, so a
crash or Ctrl-C never leaves a half-written video or image at the requested path.

Call :func:`check_output_path` before long work (animation, training) so that a typo in the output folder
fails in a second rather than after an hour.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import OutputError
from .formats import WRITABLE_EXTENSIONS


def check_output_path(path: str | os.PathLike, kinds: Iterable[str] = ("video", "image", "motion")) -> Path:
    """Check that ``path`` can be written as one of ``kinds`` (``"video"``, ``"image"``, ``"motion"``).

    Returns the path (``~`` expanded, absolute). Raises :class:`OutputError` with a one-line message if the
    extension is not writable for any of ``kinds``, the folder does not exist, the path is a folder, or the
    folder does not accept new files (checked by creating and deleting a probe file, which also works for
    read-only file systems and for root).
    """
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in WRITABLE_EXTENSIONS]
    if unknown:
        raise ValueError(f"unknown output kind(s) {unknown}; expected some of {sorted(WRITABLE_EXTENSIONS)}")
    target = Path(path).expanduser().absolute()
    allowed = [ext for kind in kinds for ext in WRITABLE_EXTENSIONS[kind]]
    suffix = target.suffix.lower()
    if suffix not in allowed:
        shown = suffix or "no extension"
        raise OutputError(
            f"cannot write {target.name}: {shown} is not a supported {'/'.join(kinds)} format "
            f"(use one of {', '.join(allowed)})"
        )
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".headshot-probe-", dir=folder)
    except OSError as error:
        raise OutputError(f"cannot create files in folder {folder} ({error.strerror or error})") from None
    os.close(handle)
    os.unlink(probe)
    return target


def _default_file_mode() -> int:
    """The permission bits an ordinary new file would get (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicOutput:
    """A hidden temporary file next to ``path`` that becomes ``path`` on :meth:`commit`.

    The temporary name is ``.<name>.<random><ext>`` so encoders that choose a format from the extension
    (FFmpeg, Pillow) pick the right one. Use :func:`atomic_output` for the common ``with`` form; use this
    class directly when the lifetime spans several calls (a video writer).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().absolute()
        try:
            handle, temp = tempfile.mkstemp(
                prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent
            )
        except OSError as error:
            raise OutputError(
                f"cannot create files in folder {self.path.parent} ({error.strerror or error})"
            ) from None
        os.close(handle)
        self.temp_path = Path(temp)
        self.done = False

    def commit(self) -> Path:
        """Move the temporary file onto ``path`` (atomic on one file system) and return ``path``."""
        if self.done:
            raise RuntimeError(f"output {self.path} was already committed or discarded")
        self.done = True
        try:
            os.chmod(self.temp_path, _default_file_mode())  # mkstemp makes 0600 files
            os.replace(self.temp_path, self.path)
        except OSError as error:
            self._remove_temp()
            raise OutputError(f"cannot write {self.path}: {error.strerror or error}") from None
        return self.path

    def discard(self) -> None:
        """Delete the temporary file; ``path`` is left untouched. Safe to call more than once."""
        self.done = True
        self._remove_temp()

    def _remove_temp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` if the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary file is deleted and the exception
    re-raised; an existing file at ``path`` is then left as it was.
    """
    output = AtomicOutput(path)
    try:
        yield output.temp_path
    except BaseException:
        output.discard()
        raise
    output.commit()
