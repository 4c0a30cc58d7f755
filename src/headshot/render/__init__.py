"""Renderers ("engines") that move the source portrait to target landmarks: the warp engine and the engine
contract (``base.py``). Engines are found by name in :mod:`headshot.engines` (``get_engine("warp")``)."""
