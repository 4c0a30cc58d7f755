"""Live mode: a camera (or a browser webcam, or a video standing in for one) drives the portrait in real time.

:class:`LiveSession` turns one camera frame into one animated frame through the animate pipeline
(``headshot.pipeline.Animation`` with a :class:`~headshot.drivers.LiveFeed` driver), and measures the
frame rate and the latency it adds. ``headshot live`` (:func:`headshot.live.desktop.run_live`) shows it
in a window and can record it; the web app's Live tab calls the same session per webcam frame.
"""

from __future__ import annotations

__all__ = ["LiveSession", "LiveStats"]


def __getattr__(name: str):
    # lazy: ``headshot --help`` imports headshot.live.commands, which must not pull in numpy or OpenCV
    if name in __all__:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
