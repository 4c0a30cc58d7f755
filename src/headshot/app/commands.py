"""``headshot app``: start the local web app."""

from __future__ import annotations

import typer


def app_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface, with a warning)."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Start the local web app: animate, make it speak, drive it live from a webcam, verify files."""
    from .server import serve

    serve(host, port)


def register(app: typer.Typer) -> None:
    app.command("app")(app_command)
