"""``headshot verify FILE``: check a file for headshot's watermark and content credentials."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def verify(
    file: Path = typer.Argument(..., help="Video or image to check."),
    json_output: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Check FILE for headshot's invisible watermark and C2PA content credentials.

    Exit code 0: marked as made by headshot; 1: no marks found; 2: the file cannot be checked.
    """
    import json

    from .verify import VerifyError, verify_file

    try:
        report = verify_file(file)
    except VerifyError as error:
        print(f"headshot: error: {error}", file=sys.stderr)
        raise typer.Exit(error.exit_code) from None
    if json_output:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(f"{file}: {report.kind}")
        for line in report.summary:
            print(f"  {line}")
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``verify`` to the headshot command line."""
    app.command("verify")(verify)
