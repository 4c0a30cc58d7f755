"""The rows of a ``headshot batch`` jobs file, checked, and the key that says whether a job is already done.

A jobs file is a CSV with a header. One row is one render (``photo`` may list several photos separated
by ``;``: one job each). Columns, all optional but ``photo``; an empty cell means "not given":

==================  ===============================================================================
``photo``           portrait photo(s)
``driver``          driving video, image or ``.motion`` template (``headshot animate --driver``)
``motion``          built-in motion: talk, nod, smile, blink (``--motion``)
``audio``           voice recording (``--audio``); ``transcript``: what it says
``text``            text to say (``headshot say``); ``lang``, ``voice``, ``rate`` as for ``say``
``output``          output file, relative to the batch's ``--out`` folder (default ``NNNN-<photo>.mp4``;
                    ``.png`` for an image driver)
any animate option  ``engine``, ``model``, ``seconds``, ``size``, ``fps``, ``max_frames``, ``crop_only``,
                    ``absolute``, ``reference``, ``regions``, ``expression_scale``, ``pose_scale``,
                    ``smoothing``, ``face_index``, ``side_by_side``, ``label``, ``no_watermark``,
                    ``no_credentials`` (dashes or underscores; switches take true/false, yes/no, 1/0)
==================  ===============================================================================

Relative input paths are relative to the jobs file's folder. A row that cannot run (a missing file, an
option out of range, an unknown column value) becomes a failed job with a one-line error; the others run.

A job's **key** is the SHA-256 of what makes its output: the contents of its input files (photo, driver,
recording, model), its text, its options, its output name and headshot's version. A rerun skips a job
whose key is in the batch manifest and whose output is there (see :mod:`headshot.cluster.batch`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import HeadshotError, InputError

SPEECH_COLUMNS = ("text", "lang", "voice", "rate")
INPUT_COLUMNS = ("photo", "driver", "output")
_SWITCH_WORDS = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False,
                 "off": False}


@dataclass
class Job:
    """One render: everything a worker needs, with absolute paths (workers share the file system)."""

    row: int                       # line of the jobs file (the header is line 1)
    photo: str
    output: str                    # absolute output path
    output_name: str               # as given, relative to --out
    driver: str | None = None
    options: dict = field(default_factory=dict)   # AnimateOptions keyword arguments
    speech: dict | None = None     # say: {"text", "language", "voice", "rate"}
    key: str = ""
    error: str | None = None       # set when the row cannot run

    def to_payload(self) -> dict:
        return {name.name: getattr(self, name.name) for name in fields(self)}


def _column_name(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _switch(value: str, column: str) -> bool:
    word = value.strip().lower()
    if word not in _SWITCH_WORDS:
        raise InputError(f"column {column}: {value!r} is not true/false")
    return _SWITCH_WORDS[word]


def _number(value: str, column: str, kind):
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"column {column}: {value!r} is not a number") from None


def option_columns() -> dict[str, type]:
    """``{column: parser type}`` for the animate options a row may set (the CLI's names)."""
    from ..cli_options import API_ONLY, CLI_FORMS, FIELDS

    columns: dict[str, type] = {}
    for name, spec in FIELDS.items():
        if name in API_ONLY or name in ("mode", "watermark", "credentials", "regions", "motion", "audio"):
            continue
        columns[name] = {"bool": bool, "int | None": int, "int": int, "float": float,
                         "float | None": float}.get(str(spec.type), str)
    for name, form in CLI_FORMS.items():
        columns.setdefault(name, bool if isinstance(form.default, bool) else str)
    columns.update(motion=str, audio=str, transcript=str)
    return columns


def _resolve(path_text: str, base: Path) -> str:
    path = Path(path_text).expanduser()
    return str(path if path.is_absolute() else (base / path).absolute())


class _Hasher:
    """SHA-256 of input files, each file hashed once per batch (many rows share one driver)."""

    def __init__(self):
        self.known: dict[str, str] = {}

    def __call__(self, path: str | None, what: str) -> str | None:
        if path is None:
            return None
        if path not in self.known:
            from ..io.files import sha256_file

            if not Path(path).is_file():
                raise InputError(f"{what} not found: {path}")
            self.known[path] = sha256_file(path)
        return self.known[path]


def _row_options(row: dict, base: Path) -> tuple[dict, str | None, dict | None]:
    """A row's AnimateOptions keywords (checked), its driver path and its speech request."""
    from ..api import make_options
    from ..cli_options import to_options

    columns = option_columns()
    values = {}
    for column, text in row.items():
        if column in (*INPUT_COLUMNS, *SPEECH_COLUMNS) or not text:
            continue
        kind = columns[column]
        if kind is bool:
            values[column] = _switch(text, column)
        elif kind in (int, float):
            values[column] = _number(text, column, kind)
        else:
            values[column] = text
    for column in ("model", "audio"):
        if column in values:
            values[column] = _resolve(values[column], base)
    options = to_options(**values)
    make_options(**options)  # one-line OptionError now, before any worker is asked
    driver = _resolve(row["driver"], base) if row.get("driver") else None
    speech = None
    if row.get("text"):
        if driver or options.get("motion") or options.get("audio"):
            raise InputError("a row with text is spoken (headshot say): leave driver, motion and audio empty")
        speech = {"text": row["text"], "language": row.get("lang") or "en", "voice": row.get("voice") or None,
                  "rate": _number(row["rate"], "rate", float) if row.get("rate") else 1.0}
    elif not (driver or options.get("motion") or options.get("audio")):
        raise InputError("give a driver, a motion, an audio recording or a text")
    return options, driver, speech


def _default_output(row_number: int, photo: str, driver: str | None) -> str:
    from ..io.images import is_image_path

    suffix = ".png" if driver is not None and is_image_path(driver) else ".mp4"
    return f"{row_number:04d}-{Path(photo).stem}{suffix}"


def _inside(out: Path, name: str) -> Path:
    target = (out / name).absolute()
    if Path(name).is_absolute() or ".." in Path(name).parts or not name.strip():
        raise InputError(f"output {name!r} must be a file name inside the --out folder")
    return target


def _job_key(job: Job, hasher: _Hasher) -> str:
    from .. import __version__

    inputs = {"photo": hasher(job.photo, "photo"), "driver": hasher(job.driver, "driver"),
              "audio": hasher(job.options.get("audio"), "audio"), "model": hasher(job.options.get("model"), "model")}
    options = {name: value for name, value in job.options.items() if name not in ("audio", "model")}
    described = {"inputs": inputs, "options": options, "speech": job.speech, "output": job.output_name,
                 "headshot": __version__}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def read_jobs(jobs_file: Path, out: Path) -> list[Job]:
    """Every job of ``jobs_file`` (rows with several photos expanded), in file order; rows that cannot run
    come back with ``error`` set. Raises :class:`InputError` only for a file that is not a jobs table."""
    jobs_file = Path(jobs_file)
    if not jobs_file.is_file():
        raise InputError(f"jobs file not found: {jobs_file}")
    try:
        with open(jobs_file, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            header = [_column_name(name) for name in (reader.fieldnames or [])]
            rows = [(reader.line_num, dict(zip(header, ((value or "").strip() for value in record.values()))))
                    for record in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{jobs_file.name} is not a UTF-8 CSV file ({error})") from None
    known = {*INPUT_COLUMNS, *SPEECH_COLUMNS, *option_columns()}
    unknown = [name for name in header if name not in known]
    if "photo" not in header or unknown:
        problem = f"unknown column(s) {', '.join(unknown)}" if unknown else "no photo column"
        raise InputError(f"{jobs_file.name}: {problem}; columns: photo, driver, motion, audio, transcript, text, "
                         f"lang, voice, rate, output, and animate options (size, engine, crop_only, ...)")
    if not rows:
        raise InputError(f"{jobs_file.name}: no jobs (a header and one row per render)")
    base, out = jobs_file.absolute().parent, Path(out).absolute()
    hasher, jobs, owners = _Hasher(), [], {}
    for line, row in rows:
        photos = [part.strip() for part in row.get("photo", "").split(";") if part.strip()] or [""]
        for photo in photos:
            job = Job(row=line, photo=_resolve(photo, base) if photo else "", output="", output_name="")
            try:
                if not photo:
                    raise InputError("no photo")
                job.options, job.driver, job.speech = _row_options(row, base)
                name = row.get("output") or _default_output(line, photo, job.driver)
                if len(photos) > 1:
                    name = str(Path(name).with_name(f"{Path(name).stem}-{Path(photo).stem}{Path(name).suffix}"))
                job.output_name, job.output = name, str(_inside(out, name))
                if job.output in owners:
                    raise InputError(f"output {name} is also written by row {owners[job.output]}")
                owners[job.output] = line
                job.key = _job_key(job, hasher)
            except HeadshotError as error:
                job.error = str(error)
            jobs.append(job)
    return jobs
