"""``AnimateOptions``: everything a user can set for ``headshot animate`` (and ``say``, ``demo``).

One line per option: its type, its default and its help text. The command line is built from these
fields (``headshot.cli_options``), so a default or a help text is written here and nowhere else. This
module is light (no numpy, no OpenCV): ``headshot --help`` imports it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from .errors import OptionError

REGIONS = ("pose", "expression", "eyes", "lips")
MAX_MOTION_SCALE = 3.0  # --expression-scale / --pose-scale: 3x a talking head's motion already folds the warp
SAY_FPS = 25.0  # headshot say / api.say: speech has no frame rate of its own


def option(default, help: str):
    """A field of :class:`AnimateOptions` with its one-line help (shown by ``--help``, read by ``cli_options``)."""
    return field(default=default, metadata={"help": help})


@dataclass
class AnimateOptions:
    """Everything a user can set for ``headshot animate`` (one line per option; the help says it as the CLI does).

    ``audio`` and ``transcript`` are never recorded in the content credentials, only their hashes.
    ``crop_scale`` is for the Python API only; every other field is a ``headshot animate`` option
    (``mode`` is ``--absolute``, ``watermark`` ``--no-watermark``, ``credentials`` ``--no-credentials``).
    """

    engine: str = option("warp", "Renderer: warp (real time) or neural (Zakharov et al. 2019).")
    model: str | None = option(None, "Neural engine: model or fine-tuned person file (.safetensors).")
    motion: str | None = option(None, "Built-in motion instead of a driver: talk, nod, smile, blink.")
    audio: str | None = option(None, "Voice recording (wav, mp3, m4a, mp4 ...): the face speaks it; with --driver "
                                     "only the mouth follows it. The output carries its sound.")
    transcript: str | None = option(None, "What the --audio recording says (English), for better lip timing.")
    seconds: float | None = option(None, "Length of a --motion preset in seconds.")
    mode: str = option("relative", "relative: the driver's motion on the source's face; absolute: the driver's "
                                   "face shape too (same person driving).")
    reference: str = option("auto", "Driver frame taken as 'no motion': auto (best for videos, first for presets), "
                                    "first, best, or a frame number.")
    regions: tuple[str, ...] = option(REGIONS, "What to animate (comma list).")
    expression_scale: float = option(1.0, "Multiplier on expression motion, 0 (none) to 3.")
    pose_scale: float = option(1.0, "Multiplier on head motion, 0 (still head) to 3.")
    smoothing: float = option(0.5, "Driver landmark smoothing, 0 (off) to 1.")
    crop_only: bool = option(False, "Output the face crop instead of the full photo.")
    size: int | None = option(None, "Crop side (--crop-only, default 512) or long side of the output, 64 to 4096 px.")
    fps: float | None = option(None, "Output frame rate (default: the driver's).")
    max_frames: int | None = option(None, "Stop after this many driver frames.")
    face_index: int = option(0, "Which face of the photo to animate: 0 the largest (default), 1 the next, ...")
    side_by_side: bool = option(False, "Output driver | source | result.")
    watermark: bool = option(True, "Invisible provenance watermark on every frame.")
    label: bool = option(False, "Burn a small visible 'AI-generated' label into a corner.")
    credentials: bool = option(True, "Attach C2PA content credentials to the output file.")
    crop_scale: float = option(2.0, "Crop side as a multiple of the face size, 1 to 4.")

    def validate(self) -> "AnimateOptions":
        """Check every option's type and range and bring it to its normal form (``regions`` a tuple,
        numbers ``int``/``float``); returns ``self``. Raises :class:`OptionError` (one line, the CLI's
        option names) for a wrong type or an out-of-range value."""
        from . import validation as check

        self.engine = check.text(self.engine, "--engine")
        self.model = check.text(self.model, "--model", optional=True, path=True)
        self.motion = check.text(self.motion, "--motion", optional=True)
        self.audio = check.text(self.audio, "--audio", optional=True, path=True)
        self.transcript = check.text(self.transcript, "--transcript", optional=True)
        if self.audio is not None and self.motion is not None:
            raise OptionError("give either --audio or --motion, not both (the recording moves the face)")
        if self.transcript is not None and self.audio is None:
            raise OptionError("--transcript goes with --audio (it is what the recording says)")
        if self.seconds is not None:  # the preset checks the range
            self.seconds = check.number(self.seconds, "--seconds", 0.0, math.inf)
        self.mode = check.text(self.mode, "mode", ("relative", "absolute"))
        if isinstance(self.reference, numbers.Integral) and not isinstance(self.reference, bool):
            self.reference = str(check.number(self.reference, "--reference", 0, math.inf, integer=True))
        if not isinstance(self.reference, str) or (
                self.reference not in ("auto", "first", "best") and not self.reference.isdigit()):
            raise OptionError(f"--reference must be auto, first, best, or a frame number (got {self.reference!r})")
        self.regions = check.names(self.regions, "--regions", REGIONS)
        self.expression_scale = check.number(self.expression_scale, "--expression-scale", 0.0, MAX_MOTION_SCALE)
        self.pose_scale = check.number(self.pose_scale, "--pose-scale", 0.0, MAX_MOTION_SCALE)
        self.smoothing = check.number(self.smoothing, "--smoothing", 0.0, 1.0)
        self.size = check.number(self.size, "--size", 64, 4096, integer=True, optional=True)
        self.fps = check.number(self.fps, "--fps", 1.0, 120.0, optional=True)
        self.max_frames = check.number(self.max_frames, "--max-frames", 1, math.inf, integer=True, optional=True)
        self.face_index = check.number(self.face_index, "--face-index", 0, math.inf, integer=True)
        for name in ("crop_only", "side_by_side", "watermark", "label", "credentials"):
            setattr(self, name, check.switch(getattr(self, name), name))
        self.crop_scale = check.number(self.crop_scale, "crop_scale", 1.0, 4.0)
        return self
