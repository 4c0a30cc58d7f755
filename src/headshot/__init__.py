"""headshot: bring a portrait to life as a talking-head video.

The public API lives in :mod:`headshot.api`; the names below are re-exported lazily so that
``import headshot`` stays fast (no torch / mediapipe import until used).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "animate", "AnimateOptions", "HeadshotError"]


def __getattr__(name):
    if name in ("animate", "AnimateOptions"):
        from . import api

        return getattr(api, name)
    if name == "HeadshotError":
        from .errors import HeadshotError

        return HeadshotError
    raise AttributeError(name)
