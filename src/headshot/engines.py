"""Engines by name: ``get_engine("warp")``, ``engine_names()``, ``engine_info("neural")``.

The one registry of renderers for ``headshot animate`` and ``headshot eval``: the warp engine
(``render/``), the neural engine (``neural/``, needs torch) and the evaluation baselines (``eval/``). It
sits above those packages and imports an engine's module only when that engine is asked for, so
``import headshot`` stays light and torch loads only for ``neural``. What an engine may do is declared on
its class (``info``, a :class:`headshot.render.base.EngineInfo`); the contract is
:class:`headshot.render.base.Engine`.

To add an engine: write a class with ``info``, ``prepare`` and ``render`` (see ``render/base.py``), add a
loader below and its name to :data:`_LOADERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .errors import HeadshotError

if TYPE_CHECKING:
    from .render.base import Engine, EngineInfo


def _warp() -> type:
    # The warp engine with several photos of one person (render/multishot.py); with one it is WarpEngine.
    from .render.multishot import MultiShotWarpEngine

    return MultiShotWarpEngine


def _neural() -> type:
    try:
        from .neural.engine import NeuralEngine
    except ModuleNotFoundError as error:  # the module, or one it needs (torch), is missing
        raise HeadshotError("the neural engine is not installed") from error
    return NeuralEngine


def _source() -> type:
    from .eval.baselines import SourceEngine

    return SourceEngine


def _similarity() -> type:
    from .eval.baselines import SimilarityWarpEngine

    return SimilarityWarpEngine


# name -> loader of the engine's class; the order is the order of listings.
_LOADERS: dict[str, Callable[[], type]] = {
    "warp": _warp,
    "neural": _neural,
    "source": _source,          # evaluation baseline: the unmoved source
    "similarity": _similarity,  # evaluation baseline: one similarity transform of the source
}


def engine_names() -> tuple[str, ...]:
    """The registered engine names: ``("warp", "neural", "source", "similarity")``."""
    return tuple(_LOADERS)


def engine_class(name: str) -> type:
    """The class of engine ``name`` (imports its module). Raises :class:`HeadshotError` (one line, listing
    the names) for an unknown name, or for ``neural`` when torch is not installed."""
    if not isinstance(name, str) or name not in _LOADERS:
        raise HeadshotError(f"unknown engine {name!r}; choose one of: {', '.join(_LOADERS)}")
    return _LOADERS[name]()


def engine_info(name: str) -> "EngineInfo":
    """What engine ``name`` declares (its class's ``info``), without building it."""
    return engine_class(name).info


def get_engine(name: str, **options) -> "Engine":
    """A new, unprepared engine ``name`` built with ``options`` (its constructor's keywords, e.g.
    ``model_path`` for ``neural``, ``map_scale`` for ``warp``). Raises :class:`HeadshotError` as
    :func:`engine_class` does."""
    return engine_class(name)(**options)
