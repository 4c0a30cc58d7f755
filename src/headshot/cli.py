"""The ``headshot`` command line.

Each subcommand is a thin call into the Python API. Areas register their own subcommands through a
``register(app)`` function in ``headshot.<area>.commands`` so that this file stays small; heavy imports
happen inside the command functions, keeping ``headshot --help`` fast.

:func:`main` also makes the process a good citizen: SIGTERM (and SIGHUP) stop a run the way Ctrl-C does,
so that the temporary output is deleted, and matplotlib (imported by MediaPipe) keeps its font cache in a
private folder removed at exit instead of writing ``~/.cache/matplotlib``.

Every failure is one line on stderr, ``headshot: error: ...``, never a traceback or typer's boxed usage
screen: a command line that cannot be parsed (missing argument, unknown option, ``--fps abc``, a value
outside an option's declared range) exits 2 with a ``(see headshot COMMAND --help)`` hint; a value that
parses but is refused by the checks shared with the Python API (``validation.py``: ``--pose-scale 9``) or
any other :class:`HeadshotError` exits 1 (or the error's own code).
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
import typer.main

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
    "headshot.cluster.commands",
    "headshot.live.commands",
    "headshot.app.commands",
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


def _click_exceptions():
    """The ``exceptions`` module of the click that typer runs on: the ``click`` package for older typer,
    a copy vendored inside newer typer (``typer._click``); ``typer.BadParameter`` lives in either."""
    return sys.modules[typer.BadParameter.__module__]


def _usage_line(error) -> str:
    """A click usage error as one line: its message and where to read about the command."""
    message = " ".join(error.format_message().split())
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "headshot"
    return f"headshot: error: {message} (see {command} --help)"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and return its exit code; every failure is one line on stderr.

    Exit codes: 0 done (``--help`` too), 1 (or the error's own code) for a :class:`HeadshotError`, 2 for a
    command line that cannot be parsed (``headshot`` alone prints the help and exits 2), 130 for Ctrl-C,
    128 + the signal number for SIGTERM/SIGHUP; in every failing case the requested output is not written.
    ``verify`` returns its own codes (0 marked, 1 not marked, 2 cannot check).
    """
    clicks = _click_exceptions()
    command = typer.main.get_command(app)
    try:
        with _private_matplotlib_dir(), _terminate_like_interrupt():
            # not standalone: usage errors come back as exceptions (printed below, on one line) and
            # ``typer.Exit(code)`` / ``--help`` as a returned exit code
            result = command.main(args=sys.argv[1:] if argv is None else list(argv), prog_name="headshot",
                                  standalone_mode=False)
    except HeadshotError as error:
        print(f"headshot: error: {error}", file=sys.stderr)
        return error.exit_code
    except clicks.UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # plain ``headshot``: its help (already shown by rich)
            help_text = error.format_message()
            if help_text.strip():
                print(help_text, file=sys.stderr)
            return error.exit_code
        print(_usage_line(error), file=sys.stderr)
        return error.exit_code
    except clicks.ClickException as error:  # e.g. a typer.FileText that cannot be opened
        print(f"headshot: error: {' '.join(error.format_message().split())}", file=sys.stderr)
        return error.exit_code
    except (KeyboardInterrupt, typer.Abort):  # older typer turns Ctrl-C into Abort
        print("headshot: interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"headshot: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    if code == 130:  # newer typer turns Ctrl-C into Exit(130)
        print("headshot: interrupted", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
