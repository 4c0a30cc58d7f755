"""Renderers ("engines") that move the source portrait to target landmarks: ``get_engine("warp")``."""

from .registry import ENGINES, get_engine

__all__ = ["ENGINES", "get_engine"]
