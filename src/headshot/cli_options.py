"""Command-line options made from :class:`~headshot.options.AnimateOptions`' fields.

A field's default and help text are written once, in the dataclass; :func:`cli_option` turns the field
into the ``typer.Option`` of ``animate``, ``say`` and ``demo``, flag ``--name-with-dashes``. Where the
command line takes a field in another form, :data:`CLI_FORMS` says how, in one place:

- ``--absolute`` (a switch) sets ``mode`` to ``"absolute"`` (off: ``"relative"``);
- ``--regions pose,lips`` (one comma string) sets the ``regions`` tuple;
- ``--no-watermark`` / ``--no-credentials`` turn ``watermark`` / ``credentials`` off;
- ``--model`` / ``--audio`` take paths, stored as text.

:func:`to_options` maps the parsed command-line values back to ``AnimateOptions`` keyword arguments.
A command whose own default or wording differs (``say``'s ``--fps 25``) passes ``default=``/``help=``
to :func:`cli_option` in its signature, so the difference is visible where the command is declared.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from typing import Any, Callable

import typer

from .options import AnimateOptions

FIELDS = {f.name: f for f in fields(AnimateOptions)}
API_ONLY = ("crop_scale",)  # AnimateOptions fields with no command-line option
FIELD_DEFAULT = object()  # "the field's own default" (None is a default of its own)


def flag(name: str) -> str:
    """The command-line flag of a parameter: ``face_index`` -> ``--face-index``."""
    return "--" + name.replace("_", "-")


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _path_text(value) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class CliForm:
    """A command-line parameter that sets an ``AnimateOptions`` field in another form."""

    field: str                        # the AnimateOptions field it sets
    to_field: Callable[[Any], Any]    # command-line value -> field value
    default: Any = FIELD_DEFAULT      # the parameter's default
    help: str | None = None           # its help (None: the field's own)


CLI_FORMS: dict[str, CliForm] = {
    "absolute": CliForm("mode", lambda on: "absolute" if on else "relative", False,
                        "Copy the driver's face shape too (same person driving)."),
    "regions": CliForm("regions", _names, ",".join(FIELDS["regions"].default)),
    "no_watermark": CliForm("watermark", operator.not_, False,
                            "Research use: no invisible watermark (recorded in the credentials)."),
    "no_credentials": CliForm("credentials", operator.not_, False, "Do not attach C2PA content credentials."),
    "model": CliForm("model", _path_text),
    "audio": CliForm("audio", _path_text),
}


def cli_option(name: str, *aliases: str, default: Any = FIELD_DEFAULT, help: str | None = None) -> Any:
    """The ``typer.Option`` for command-line parameter ``name``: an ``AnimateOptions`` field or a
    :data:`CLI_FORMS` entry, with its default and help text unless ``default``/``help`` override them.

    ``aliases`` are extra flags (``"-m"``). Use as a parameter's default in a command's signature:
    ``motion: Optional[str] = cli_option("motion", "-m")``.
    """
    form = CLI_FORMS.get(name)
    field = FIELDS[form.field if form else name]
    if default is FIELD_DEFAULT:
        default = form.default if form is not None else FIELD_DEFAULT
    if default is FIELD_DEFAULT:
        default = field.default
    if help is None:
        help = form.help if form and form.help is not None else field.metadata["help"]
    return typer.Option(default, flag(name), *aliases, help=help)


def to_options(**values) -> dict[str, Any]:
    """``AnimateOptions`` keyword arguments from command-line values keyed by parameter name
    (``absolute=True`` -> ``mode="absolute"``, ``no_watermark=True`` -> ``watermark=False``, ...)."""
    options = {}
    for name, value in values.items():
        form = CLI_FORMS.get(name)
        if form is not None:
            options[form.field] = form.to_field(value)
        elif name in FIELDS:
            options[name] = value
        else:
            raise TypeError(f"{name} is not an AnimateOptions field nor in CLI_FORMS")
    return options
