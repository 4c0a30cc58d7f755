"""The command line's options come from AnimateOptions: same defaults, same flags, written once."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest
import typer.main

from headshot.cli import app
from headshot.cli_options import API_ONLY, CLI_FORMS, FIELDS, flag, to_options
from headshot.options import SAY_FPS, AnimateOptions

# Deliberate differences, in one place: say speaks at SAY_FPS (api.say does the same when fps is None).
OVERRIDES = {("say", "fps"): SAY_FPS}


def _command(name: str):
    return typer.main.get_command(app).commands[name]


def _option_params(command: str):
    """The command's parameters that set an AnimateOptions field: {name: click parameter}."""
    return {p.name: p for p in _command(command).params if p.name in FIELDS or p.name in CLI_FORMS}


@pytest.mark.parametrize("command", ["animate", "say", "demo"])
def test_cli_defaults_are_the_dataclass_defaults(command):
    params = _option_params(command)
    assert params, command
    defaults = AnimateOptions()
    for name, param in params.items():
        (field, value), = to_options(**{name: param.default}).items()
        expected = OVERRIDES.get((command, field), getattr(defaults, field))
        assert value == expected, f"{command} {param.opts}: default {param.default!r} -> {value!r}, not {expected!r}"


def test_animate_exposes_every_field_but_the_api_only_ones():
    exposed = {CLI_FORMS[name].field if name in CLI_FORMS else name for name in _option_params("animate")}
    assert exposed == {f.name for f in fields(AnimateOptions)} - set(API_ONLY)


@pytest.mark.parametrize("command", ["animate", "say", "demo"])
def test_flags_are_the_parameter_names(command):
    for name, param in _option_params(command).items():
        assert param.opts[0] == flag(name), param.opts


def test_every_field_has_one_line_of_help():
    for field in fields(AnimateOptions):
        text = field.metadata.get("help", "")
        assert text and "\n" not in text and text.endswith((".", "...")), field.name


def test_to_options_maps_the_command_line_forms():
    assert to_options(absolute=True, regions="lips, eyes", no_watermark=True, no_credentials=False) == {
        "mode": "absolute", "regions": ("lips", "eyes"), "watermark": False, "credentials": True}
    with pytest.raises(TypeError):
        to_options(quiet=True)


def test_cli_import_stays_light():
    """headshot --help must not load the pipeline (OpenCV, NumPy, MediaPipe) to read the defaults."""
    code = ("import sys, headshot.cli; "
            "print(sorted(m for m in ('cv2', 'numpy', 'headshot.pipeline', 'mediapipe') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
