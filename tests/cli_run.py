"""A test helper: run the headshot CLI in-process and collect what it printed."""

from __future__ import annotations

from headshot.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``headshot ARGS...`` in-process; return (exit code, stdout, stderr). A SystemExit (typer's usage
    errors) gives its code."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli_err(capsys, *args) -> tuple[int, str]:
    """:func:`run_cli` without stdout: (exit code, stderr)."""
    code, _, err = run_cli(capsys, *args)
    return code, err
