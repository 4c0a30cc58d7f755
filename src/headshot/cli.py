"""The ``headshot`` command line.

Each subcommand is a thin call into the Python API. Areas register their own subcommands through a
``register(app)`` function in ``headshot.<area>.commands`` so that this file stays small; heavy imports
happen inside the command functions, keeping ``headshot --help`` fast.
"""

from __future__ import annotations

import importlib
import sys

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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; print user errors as one line on stderr with a non-zero exit code."""
    try:
        app(args=argv)  # standalone: usage errors and --help exit through SystemExit
    except HeadshotError as error:
        print(f"headshot: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("headshot: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
