"""Engine lookup by name: ``get_engine("warp")`` or ``get_engine("neural")``."""

from __future__ import annotations

from ..errors import HeadshotError

ENGINES = ("warp", "neural")


def get_engine(name: str, **options):
    """A new, unprepared engine called ``name`` (one of :data:`ENGINES`), built with ``options``.

    Raises :class:`HeadshotError` for an unknown name, or for ``neural`` when that engine is not
    installed.
    """
    if name == "warp":
        from .warp import WarpEngine

        return WarpEngine(**options)
    if name == "neural":
        try:
            from ..neural.engine import NeuralEngine
        except ModuleNotFoundError as error:  # the module, or one it needs (torch), is missing
            raise HeadshotError("the neural engine is not installed") from error
        return NeuralEngine(**options)
    raise HeadshotError(f"unknown engine '{name}'; choose one of: {', '.join(ENGINES)}")
