"""headshot: bring a portrait to life as a talking-head video.

    >>> import headshot
    >>> for frame in headshot.animate("photo.jpg", "talk.mp4"):   # RGB uint8 frames
    ...     ...
    >>> headshot.animate_to_file("photo.jpg", "talk.mp4", "out.mp4")
    >>> headshot.say("photo.jpg", "Hello from a single photo.", "hello.mp4")   # speech, with sound

The public API lives in :mod:`headshot.api` and the error types in :mod:`headshot.errors`; the names
below are re-exported lazily so that ``import headshot`` stays fast (no torch / mediapipe import until
one is used).
"""

__version__ = "0.1.0"

_FROM_API = ("animate", "animate_to_file", "say", "extract_motion", "make_options", "Animation", "AnimateOptions")
_FROM_ERRORS = ("HeadshotError", "InputError", "NoFaceError", "OptionError", "OutputError", "MissingModelError")

__all__ = ["__version__", *_FROM_API, *_FROM_ERRORS]


def __getattr__(name: str):
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    if name in _FROM_ERRORS:
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'headshot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
