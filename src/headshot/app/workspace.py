"""The app's private folder: uploads and results live here, per browser session, and nowhere else.

One folder per app process, made with :func:`tempfile.mkdtemp` (mode 0700: other users cannot list or read
it). ``uploads/`` is Gradio's upload cache (``GRADIO_TEMP_DIR``); ``results/<session>/`` holds a session's
outputs under names the app makes up (no file name or path ever comes from the user); ``examples/`` the
bundled astronaut. A session's results are deleted when its browser tab closes, everything at exit.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from ..errors import InputError


class Workspace:
    """The private folder of one app process (see the module docstring). :meth:`close` removes it."""

    def __init__(self, parent: str | os.PathLike | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="headshot-app-", dir=parent)).resolve()
        self.uploads = self._folder(self.root / "uploads")
        self.results = self._folder(self.root / "results")
        self.examples = self._folder(self.root / "examples")

    @staticmethod
    def _folder(path: Path) -> Path:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def session_folder(self, session: str | None) -> Path:
        """The results folder of browser session ``session`` (its id reduced to safe characters)."""
        name = re.sub(r"[^A-Za-z0-9_-]", "", session or "")[:64] or "anonymous"
        return self._folder(self.results / name)

    def result_path(self, session: str | None, suffix: str) -> Path:
        """A fresh, unique result file name in the session's folder: ``<random>.mp4``."""
        if suffix not in (".mp4", ".png"):
            raise ValueError(f"unexpected result type {suffix}")
        return self.session_folder(session) / f"headshot-{uuid.uuid4().hex[:12]}{suffix}"

    def owned(self, path) -> Path:
        """``path`` resolved, if it lies inside this workspace (an upload or an example); else :class:`InputError`.

        Paths come from Gradio's upload handling, never typed by a user; this guards that promise.
        """
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise InputError("that file is not an upload of this app")
        return resolved

    def end_session(self, session: str | None) -> None:
        """Delete a session's results (its tab closed)."""
        shutil.rmtree(self.session_folder(session), ignore_errors=True)

    def close(self) -> None:
        """Delete the whole folder: uploads, results, examples."""
        shutil.rmtree(self.root, ignore_errors=True)
