"""The ``headshot`` command line.

Each subcommand is a thin call into the Python API. Areas register their own subcommands through a
``register(app)`` function in ``headshot.<area>.commands`` so that this file stays small; heavy imports
happen inside the command functions, keeping ``headshot --help`` fast.

:func:`main` also makes the process a good citizen: SIGTERM (and SIGHUP) stop a run the way Ctrl-C does,
so that the temporary output is deleted, and matplotlib (imported by MediaPipe) keeps its font cache in a
private folder removed at exit instead of writing ``~/.cache/matplotlib``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import sys
import tempfile
import threading

import typer

from .errors import HeadshotError

app = typer.Typer(
    name="headshot",
    help="Bring a portrait to life: animate one photo with a driving video, a motion template or a preset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that add subcommands with ``register(app)``; order is the order in --help.
_COMMAND_MODULES = (
    "headshot.commands",
    "headshot.eval.commands",
    "headshot.train.commands",
    "headshot.provenance.commands",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # area not built yet
                continue
            raise
        module.register(app)


_register_all()


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP so that every ``finally`` and ``with`` cleans up.

    A BaseException like KeyboardInterrupt: code that catches ``Exception`` does not swallow it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, _frame) -> None:
    # a second signal while cleaning up must not cut the clean-up short
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def _terminate_like_interrupt():
    """Turn SIGTERM/SIGHUP into :class:`Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:  # keep a caller's own handler
            previous[number] = signal.signal(number, _raise_terminated)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _private_matplotlib_dir():
    """Point MPLCONFIGDIR at a private temporary folder unless the user set it (or matplotlib is loaded)."""
    if os.environ.get("MPLCONFIGDIR") or "matplotlib" in sys.modules:
        yield
        return
    folder = tempfile.mkdtemp(prefix="headshot-matplotlib-")
    os.environ["MPLCONFIGDIR"] = folder
    try:
        yield
    finally:
        if os.environ.get("MPLCONFIGDIR") == folder:
            del os.environ["MPLCONFIGDIR"]
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; print user errors as one line on stderr with a non-zero exit code.

    Exit codes: 0 done, 1 (or the error's own code) for a :class:`HeadshotError`, 130 for Ctrl-C, 128 + the
    signal number for SIGTERM/SIGHUP; in every failing case the requested output is not written.
    """
    try:
        with _private_matplotlib_dir(), _terminate_like_interrupt():
            app(args=argv)  # standalone: usage errors and --help exit through SystemExit
    except HeadshotError as error:
        print(f"headshot: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("headshot: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"headshot: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
