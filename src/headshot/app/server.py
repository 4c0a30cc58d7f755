"""Start the web app safely: local address by default, no analytics, private folder, limits, a queue.

:func:`start_app` builds and launches the app without blocking (tests and benchmarks use it);
:func:`serve` is ``headshot app``: it starts the app, waits, and removes the private folder at exit.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from dataclasses import dataclass

from ..errors import HeadshotError
from .uploads import UploadLimits
from .workspace import Workspace

log = logging.getLogger("headshot")


def quiet_gradio(workspace: Workspace) -> None:
    """Gradio's environment before it is imported: no analytics or update checks, uploads in ``workspace``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.uploads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("GRADIO_SERVER_NAME", "127.0.0.1")


def exposure_warning(host: str) -> str | None:
    """A warning when ``host`` is not a loopback address (others on the network can reach the app)."""
    if host in ("localhost", ""):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return None
    everyone = "every network interface" if host in ("0.0.0.0", "::") else host
    return (f"warning: listening on {everyone}: anyone who can reach this machine can use the app (and its CPU) "
            f"without a password; use --host 127.0.0.1 to keep it local")


@dataclass
class RunningApp:
    """A started app: its ``url``, the Gradio ``blocks``, the ``workspace``; :meth:`close` stops and cleans up."""

    url: str
    blocks: object
    workspace: Workspace
    actions: object

    def close(self) -> None:
        try:
            self.blocks.close()
        finally:
            self.actions.close()
            self.workspace.close()


def start_app(host: str = "127.0.0.1", port: int | None = 7860, limits: UploadLimits = UploadLimits(),
              quiet: bool = True) -> RunningApp:
    """Build and launch the app without blocking; returns the :class:`RunningApp` (call ``close()``)."""
    workspace = Workspace()
    quiet_gradio(workspace)
    try:
        import gradio  # noqa: F401
    except ImportError:
        workspace.close()
        raise HeadshotError("the web app needs Gradio: pip install 'headshot[app]'") from None
    from ..assets import astronaut
    from ..io.images import write_image
    from .actions import AppActions
    from .ui import build_blocks

    try:
        example = workspace.examples / "astronaut.png"
        write_image(example, astronaut())
        actions = AppActions(workspace, limits)
        blocks = build_blocks(actions, str(example))
        _app, url, _share = blocks.launch(
            server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=quiet,
            inbrowser=False, max_file_size=limits.max_bytes, allowed_paths=[str(workspace.examples)],
            ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, show_error=True,
            footer_links=["settings"], theme=_offline_theme())
    except OSError as error:
        workspace.close()
        reason = "in use" if "empty port" in str(error) else (error.strerror or str(error).splitlines()[0])
        raise HeadshotError(f"cannot listen on {host}:{port} ({reason}); try another --port") from None
    except BaseException:
        workspace.close()
        raise
    return RunningApp(url, blocks, workspace, actions)


def _offline_theme():
    """Gradio's default look with the system's fonts: nothing is fetched from a font CDN."""
    import gradio as gr

    system = ["ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])


def serve(host: str = "127.0.0.1", port: int = 7860) -> None:
    """``headshot app``: start, print the address, run until Ctrl-C, then delete the private folder."""
    import time

    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    running = start_app(host, port)
    print(f"headshot app: open {running.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        running.close()
