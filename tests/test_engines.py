"""The engine contract (``render/base.py``) and the registry (``headshot.engines``): every registered engine
declares its ``info`` and answers the protocol; an unknown name is one line listing the names; the
animate pipeline and the evaluation rows read the declarations."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from headshot import engines
from headshot.engines import engine_class, engine_info, engine_names, get_engine
from headshot.errors import HeadshotError, OptionError
from headshot.render.base import Engine, EngineInfo

# Constructor options that keep each engine quick in tests (the neural engine skips its ONNX export).
FAST_OPTIONS = {"neural": {"backend": "torch"}}
SIZE = 256


@pytest.fixture(scope="module")
def portrait(astronaut, analyzer):
    """The astronaut's 256 px face crop, its landmarks, and the full photo with its landmarks as a driver."""
    from headshot.face.crop import crop, crop_box

    landmarks = analyzer.detect_one(astronaut).landmarks
    box = crop_box(landmarks)
    return crop(astronaut, box, SIZE), box.to_crop(landmarks, SIZE), astronaut, landmarks


def _class_or_skip(name: str) -> type:
    try:
        return engine_class(name)
    except HeadshotError as error:  # e.g. the neural engine without torch
        pytest.skip(str(error))


@pytest.mark.parametrize("name", engine_names())
def test_every_engine_declares_its_info(name):
    cls = _class_or_skip(name)
    info = engine_info(name)
    assert isinstance(info, EngineInfo)
    assert "info" in vars(cls), "declared on the engine's own class"
    assert info.name == name and info.description and "\n" not in info.description


@pytest.mark.parametrize("name", engine_names())
def test_every_engine_answers_the_protocol(name, portrait, request):
    cls = _class_or_skip(name)
    if name == "neural":
        request.getfixturevalue("one_torch_thread")
    source_crop, source_landmarks, driver_frame, driver_landmarks = portrait
    try:
        engine = get_engine(name, **FAST_OPTIONS.get(name, {}))
    except HeadshotError as error:  # the neural engine without its bundled model
        pytest.skip(str(error))
    assert isinstance(engine, cls) and isinstance(engine, Engine)
    engine.prepare(source_crop, source_landmarks)
    target = source_landmarks + np.array([3.0, -2.0, 0.0], np.float32)
    without = engine.render(target)
    with_pixels = engine.render(target, driver_frame=driver_frame, driver_landmarks=driver_landmarks)
    for output in (without, with_pixels):
        assert output.dtype == np.uint8 and output.shape == source_crop.shape
    if not engine.info.uses_driver_pixels:  # the declaration is true: driver pixels change nothing
        np.testing.assert_array_equal(without, with_pixels)


def test_unknown_engine_is_one_line_listing_the_names():
    for name in ("pixar", "", None, ["warp"]):
        with pytest.raises(HeadshotError) as caught:
            get_engine(name)
        message = str(caught.value)
        assert "\n" not in message and message.startswith("unknown engine")
        assert all(known in message for known in engine_names())
    with pytest.raises(HeadshotError, match="unknown engine"):
        engine_info("pixar")


def test_the_registry_imports_an_engine_only_when_asked():
    code = ("import sys, headshot, headshot.engines as e\n"
            "names = e.engine_names()\n"
            "heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or\n"
            "                       m.startswith(('headshot.render', 'headshot.neural', 'headshot.eval')))\n"
            "print(heavy())\n"
            "e.engine_info('warp')\n"
            "print('torch' in sys.modules, 'headshot.render.warp' in sys.modules)\n")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[0] == "[]"
    assert lines[1] == "False True"


# --- the declarations are what callers read ------------------------------------------------------------

class _Stub:
    """A minimal engine: only the protocol's three names. Renders the source crop unchanged."""

    info = EngineInfo(name="stub", description="test stand-in")
    built_with: dict = {}

    def __init__(self, **options):
        _Stub.built_with = options

    def prepare(self, source_crop, source_landmarks):
        self.source_crop = source_crop

    def render(self, target_landmarks, driver_frame=None, driver_landmarks=None):
        return self.source_crop.copy()


def _register(monkeypatch, **declared) -> type:
    """Register a stub engine ``stub`` with ``declared`` fields of its info; returns its class."""
    stub = type("Stub", (_Stub,), {"info": EngineInfo(name="stub", description="test stand-in", **declared)})
    monkeypatch.setitem(engines._LOADERS, "stub", lambda: stub)
    return stub


def test_pipeline_passes_a_model_only_to_engines_that_declare_one(monkeypatch, astronaut, tmp_path):
    from headshot.pipeline import AnimateOptions, Animation

    model = tmp_path / "person.safetensors"
    options = dict(motion="nod", max_frames=2, crop_only=True, size=128, watermark=False, credentials=False)
    _register(monkeypatch, needs_model=False)
    with pytest.raises(OptionError) as caught:
        Animation(astronaut, options=AnimateOptions(engine="stub", model=str(model), **options))
    assert "\n" not in str(caught.value) and "--model" in str(caught.value)

    _register(monkeypatch, needs_model=True)
    animation = Animation(astronaut, options=AnimateOptions(engine="stub", model=str(model), **options))
    assert _Stub.built_with == {"model_path": str(model)}
    frames = list(animation.frames())
    assert len(frames) == 2 and frames[0].shape == (128, 128, 3)


def test_full_photo_output_with_a_protocol_only_engine(monkeypatch, astronaut):
    """The pipeline needs nothing beyond the protocol: the stub renders the source crop, and pasting it
    back gives (nearly) the photo."""
    from headshot.pipeline import AnimateOptions, Animation

    _register(monkeypatch)
    animation = Animation(astronaut, options=AnimateOptions(engine="stub", motion="nod", max_frames=1,
                                                            watermark=False, credentials=False))
    frame = next(animation.frames())
    assert frame.shape == astronaut.shape
    assert np.abs(frame.astype(int) - astronaut.astype(int)).mean() < 2.0


@pytest.mark.parametrize("uses_pixels, labels", [
    (False, ["stub"]),
    (True, ["stub (driver pixels)", "stub (template, no pixels)"]),
])
def test_eval_rows_follow_uses_driver_pixels(monkeypatch, uses_pixels, labels):
    try:
        from headshot.eval.rows import engine_rows
    except ImportError:  # before eval/protocols.py is split
        from headshot.eval.protocols import engine_rows

    _register(monkeypatch, uses_driver_pixels=uses_pixels)
    assert [row.label for row in engine_rows(["stub"], "self") if not row.baseline] == labels
    assert [row.label for row in engine_rows(["stub"], "fewshot") if not row.baseline] == [
        "stub (template, no pixels)"]
