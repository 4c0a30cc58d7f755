"""Outputs that appear whole or not at all.

Every writer in headshot writes to a hidden temporary file in the destination folder and renames it into
place with :func:`os.replace` only when it has finished; on any failure the temporary file is deleted, so a
crash or Ctrl-C never leaves a half-written video or image at the requested path.

Call :func:`check_output_path` before long work (animation, training) so that a typo in the output folder
fails in a second rather than after an hour, and :func:`refuse_overwriting_inputs` (or
``check_output_path(..., inputs=...)``) so that an output can never replace the photo, video or model it
is made from.

Small whole files (JSON, CSV, Markdown, PNG bytes, keys) go through :func:`atomic_write_bytes` /
:func:`atomic_write_text`; writers that need a file name (encoders, ``safetensors``) use
:func:`atomic_output` or :class:`AtomicOutput`. Nothing else in headshot renames temporary files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import OutputError
from .formats import WRITABLE_EXTENSIONS


def _as_path(item) -> Path | None:
    """``item`` as a path, or None for things that are not paths (arrays, templates, None)."""
    if isinstance(item, (str, os.PathLike)) and str(item):
        return Path(item).expanduser()
    return None


def _same_file(first: str, second: str) -> bool:
    """True if two existing paths are one file or folder (symlinks followed; hard links; any spelling)."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # missing, or unreadable: compare where the names lead instead
        return False


def _locations(path: Path) -> list[str]:
    """``path`` and every folder above it, with symlinks resolved (``..`` after a symlink taken as the OS does)."""
    resolved = Path(os.path.realpath(path))
    return [str(resolved), *(str(parent) for parent in resolved.parents)]


def refuse_overwriting_inputs(output: str | os.PathLike, inputs: Iterable) -> None:
    """Raise :class:`OutputError` if writing ``output`` would replace, or write into, one of ``inputs``.

    ``output``: the file (or run folder) a command is about to write. ``inputs``: the files and folders it
    reads; items that are not paths (``None``, arrays, motion templates) are skipped. Refused, with a
    one-line message, when ``output`` is an input under another spelling (``./x/../p.jpg``), through a
    symlink either way, or as a hard link of it (checked by device and inode), and when ``output`` lies
    inside an input folder. Call it before any work, so that nothing is computed for a run that would
    destroy its own input.
    """
    target = _as_path(output)
    if target is None:
        raise TypeError(f"output must be a path, got {type(output).__name__}")
    candidates = _locations(target)
    for item in inputs:
        source = _as_path(item)
        if source is None:
            continue
        source_real = os.path.realpath(source)
        is_folder = source.is_dir()
        for depth, location in enumerate(candidates if is_folder else candidates[:1]):
            if location == source_real or _same_file(location, source):
                where = "is" if depth == 0 else "is inside"
                kind = "folder" if is_folder else "file"
                raise OutputError(
                    f"refusing to write {target}: it {where} the input {kind} {source}; choose another output path"
                )


def check_output_path(path: str | os.PathLike, kinds: Iterable[str] = ("video", "image", "motion"),
                      inputs: Iterable = ()) -> Path:
    """Check that ``path`` can be written as one of ``kinds`` (``"video"``, ``"image"``, ``"motion"``).

    Returns the path (``~`` expanded, absolute). Raises :class:`OutputError` with a one-line message if the
    extension is not writable for any of ``kinds``, the folder does not exist, the path is a folder, the
    folder does not accept new files (checked by creating and deleting a probe file, which also works for
    read-only file systems and for root), or ``path`` is one of ``inputs`` (see
    :func:`refuse_overwriting_inputs`).
    """
    refuse_overwriting_inputs(path, inputs)
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in WRITABLE_EXTENSIONS]
    if unknown:
        raise ValueError(f"unknown output kind(s) {unknown}; expected some of {sorted(WRITABLE_EXTENSIONS)}")
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
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
        reason = f"{folder} is a file, not a folder" if folder.exists() else f"folder {folder} does not exist"
        raise OutputError(f"cannot write {target}: {reason}")
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

    ``mode``: permission bits ``path`` gets on :meth:`commit` (``None``: those of an ordinary new file, 0o666
    minus the umask). The temporary file is private (0600) until then, whatever ``mode`` says.
    """

    def __init__(self, path: str | os.PathLike, mode: int | None = None):
        self.path = Path(path).expanduser().absolute()
        self.mode = mode
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
            os.chmod(self.temp_path, _default_file_mode() if self.mode is None else self.mode)  # mkstemp: 0600
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
def atomic_output(path: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` if the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary file is deleted and the exception
    re-raised; an existing file at ``path`` is then left as it was. ``mode`` as in :class:`AtomicOutput`.
    """
    output = AtomicOutput(path, mode)
    try:
        yield output.temp_path
    except BaseException:
        output.discard()
        raise
    output.commit()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mode: int | None = None,
                       make_folders: bool = False, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` whole or not at all (temporary file + rename); returns ``path`` (absolute).

    ``mode``: as in :class:`AtomicOutput` (e.g. 0o600 for a private key). ``make_folders``: create missing
    folders above ``path`` first (a run folder's sub-folders); otherwise a missing folder is an error.
    ``fsync``: flush the bytes to disk before the rename, for files that must survive a power cut (keys).
    Raises :class:`OutputError` (one line) when the file cannot be written.
    """
    path = Path(path).expanduser().absolute()
    if make_folders:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    with atomic_output(path, mode) as temp_path:
        try:
            with open(temp_path, "wb") as stream:
                stream.write(data)
                if fsync:
                    stream.flush()
                    os.fsync(stream.fileno())
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def atomic_write_text(path: str | os.PathLike, text: str, **options) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8 (same keyword options)."""
    return atomic_write_bytes(path, text.encode("utf-8"), **options)
