"""Audio → mouth: a small learned model from speech audio to per-video-frame mouth curves.

The field's route to lip sync from a recording (SadTalker's audio2exp, NVIDIA Audio2Face): a small
network reads log-mel context around each video frame and regresses mouth blendshapes. Ours is a
temporal convolution network (three of about 0.1 M parameters each, averaged) trained on the dev clips with audio against
MediaPipe's blendshapes and the inner-lip gap of the speaker's own face (``headshot.train.audio2mouth``
regenerates the shipped weights; ``models/AUDIO2MOUTH_CARD.md`` has its data and scores).

Output curves, one value per video frame, in the units of an average dev-set speaker:

==================  ====================================================================================
``lip_gap``         inner-lip gap / inter-ocular distance (``motion.retarget.mouth_openness``): 0 closed,
                    about 0.2 for an open vowel
``mouth_width``     mouth-corner distance / inter-ocular distance (about 0.55 at rest)
``jawOpen`` ...     MediaPipe (ARKit) blendshape coefficients in [0, 1]: ``jawOpen``, ``mouthClose``,
                    ``mouthFunnel``, ``mouthPucker``, ``mouthStretch`` (left/right mean),
                    ``mouthRollLower``, ``mouthRollUpper``, ``mouthLowerDown``, ``mouthUpperUp``,
                    ``mouthPress``, ``mouthSmile`` (left/right means)
==================  ====================================================================================

Speakers differ in how wide they open: the curves are an average speaker's; a consumer scales them to a
portrait with ``rest`` and ``spread`` (per-curve closed value and typical 5-95 % range, also in the weights).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import features

# SHA-256 of the shipped weights (models/audio2mouth.safetensors); tests pin it, so a retrained model is a
# deliberate change of this line.
WEIGHTS_SHA256 = "b7d304493260e2da295e9581b65f73c7e75ef07c9b686a6ed829e75d5a1abe88"

MEL_PER_FRAME = 4  # the network's native frame rate is 25 fps: 4 log-mel frames (10 ms) per video frame
NATIVE_FPS = 1.0 / (MEL_PER_FRAME * features.HOP_SECONDS)


@dataclass
class Audio2MouthConfig:
    """Architecture and output description (stored as JSON in the weights' metadata).

    Attributes:
        curves: output names, in order.
        n_mels: log-mel bands of the input (:func:`features.log_mel`, normalised by :func:`features.normalise`).
        channels: width of the 100 Hz front end and of the 25 fps trunk.
        dilations: dilations of the residual 25 fps blocks (kernel 3).
        norm_frames: each block normalises its activations by their mean and variance over channels and
            ±``norm_frames`` frames (a sliding-window GroupNorm: adapts to the speaker and loudness of the
            last and next seconds while keeping the receptive field finite).
        dropout: training-time dropout in the trunk.
        members: networks of the same architecture, trained from different seeds, whose outputs are
            averaged (an ensemble: less variance on unseen speakers).
        rest: per curve, the value of a closed relaxed mouth of an average speaker (model output 0).
        spread: per curve, the typical 5-95 % range of an average speaker (model output 1 above rest).
    """

    curves: tuple[str, ...] = ()
    n_mels: int = features.N_MELS
    channels: tuple[int, int] = (64, 96)
    dilations: tuple[int, ...] = (1, 2, 4)
    norm_frames: int = 32
    dropout: float = 0.1
    members: int = 1
    rest: tuple[float, ...] = ()
    spread: tuple[float, ...] = ()

    @property
    def context_frames(self) -> int:
        """Video frames each side that can influence one output frame (receptive field half-width,
        rounded up): the front end's ±2, each block's dilation and normalisation window."""
        return 2 + sum(self.dilations) + len(self.dilations) * self.norm_frames + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Audio2MouthConfig:
        values = json.loads(text)
        for key in ("curves", "channels", "dilations", "rest", "spread"):
            values[key] = tuple(values[key])
        return cls(**values)


def build_network(config: Audio2MouthConfig):
    """The torch module: ``(batch, n_mels, 4 T) normalised log-mel -> (batch, curves, T)`` at 25 fps.

    Per member: a front end at 100 Hz (two kernel-3 convolutions), a kernel-5 stride-4 convolution centred
    on every 4th mel frame (output frame ``i`` is centred on mel frame ``4 i``, i.e. on ``i / 25`` s),
    residual dilated kernel-3 convolutions with sliding-window normalisation at 25 fps, and a 1×1 head.
    Zero padding only and a finite receptive field (:attr:`Audio2MouthConfig.context_frames`), so
    windowed inference with that much overlap equals whole-file inference.
    """
    import torch
    from torch import nn

    class LocalNorm(nn.Module):
        """Normalise by the mean and variance over channels and the ±``radius`` frames around each frame."""

        def __init__(self, channels: int, radius: int):
            super().__init__()
            self.radius = radius
            self.weight = nn.Parameter(torch.ones(1, channels, 1))
            self.bias = nn.Parameter(torch.zeros(1, channels, 1))

        def _window_mean(self, x: torch.Tensor) -> torch.Tensor:
            # Frames past either end of the input are not counted (rather than read as zeros).
            return nn.functional.avg_pool1d(x.mean(dim=1, keepdim=True), 2 * self.radius + 1, stride=1,
                                            padding=self.radius, count_include_pad=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = self._window_mean(x)
            variance = (self._window_mean(x * x) - mean * mean).clamp(min=0.0)
            return (x - mean) / torch.sqrt(variance + 1e-5) * self.weight + self.bias

    class ResidualBlock(nn.Module):
        def __init__(self, channels: int, dilation: int):
            super().__init__()
            self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
            self.norm = LocalNorm(channels, config.norm_frames)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.dropout(nn.functional.gelu(self.norm(self.conv(x))))

    class Member(nn.Module):
        def __init__(self):
            super().__init__()
            front, trunk = config.channels
            self.front = nn.Sequential(
                nn.Conv1d(config.n_mels, front, 3, padding=1), nn.GELU(),
                nn.Conv1d(front, front, 3, padding=1), nn.GELU(),
            )
            self.down = nn.Conv1d(front, trunk, 5, stride=MEL_PER_FRAME, padding=2)
            self.blocks = nn.Sequential(*[ResidualBlock(trunk, d) for d in config.dilations])
            self.head = nn.Conv1d(trunk, len(config.curves), 1)

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return self.head(self.blocks(nn.functional.gelu(self.down(self.front(mel)))))

    class Audio2MouthNet(nn.Module):
        """The mean of ``config.members`` independently trained networks (a seed ensemble)."""

        def __init__(self):
            super().__init__()
            self.members = nn.ModuleList([Member() for _ in range(config.members)])

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return torch.stack([member(mel) for member in self.members]).mean(dim=0)

    return Audio2MouthNet()


def default_weights_path() -> Path:
    """The shipped weights inside the package (research-only: trained on the dev clips)."""
    return Path(__file__).resolve().parents[1] / "models" / "audio2mouth.safetensors"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Audio2Mouth:
    """The audio → mouth model, ready for inference (CPU, float32).

    Use :meth:`load` for the shipped weights, then :meth:`predict`.
    """

    config: Audio2MouthConfig
    network: object = field(repr=False)
    metadata: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path | None = None, check_sha256: bool = True) -> Audio2Mouth:
        """Load weights (default: the shipped ``models/audio2mouth.safetensors``).

        Args:
            path: a ``.safetensors`` file written by :meth:`save`.
            check_sha256: for the default file, refuse weights whose hash differs from
                :data:`WEIGHTS_SHA256` (a corrupted or mismatched install).
        """
        from safetensors import safe_open
        from safetensors.torch import load_file

        from ..errors import HeadshotError

        default = path is None
        path = Path(path) if path is not None else default_weights_path()
        if not path.is_file():
            raise HeadshotError(f"audio2mouth weights not found: {path}")
        if default and check_sha256 and sha256_of(path) != WEIGHTS_SHA256:
            raise HeadshotError(f"audio2mouth weights {path.name} do not match the pinned SHA-256")
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        config = Audio2MouthConfig.from_json(metadata["config"])
        network = build_network(config)
        network.load_state_dict(load_file(str(path)))
        network.eval()
        return cls(config, network, metadata)

    def save(self, path: Path, **extra_metadata: str) -> None:
        """Write the weights and config as ``.safetensors`` (atomically)."""
        from safetensors.torch import save_file

        from ..io.atomic import atomic_output

        path = Path(path)
        metadata = {"config": self.config.to_json(), **self.metadata, **extra_metadata}
        state = {key: value.detach().contiguous() for key, value in self.network.state_dict().items()}
        with atomic_output(path) as temporary:
            save_file(state, str(temporary), metadata=metadata)

    @property
    def curves(self) -> tuple[str, ...]:
        return self.config.curves

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.network.parameters())

    def predict_normalised(self, mel: np.ndarray) -> np.ndarray:
        """Network output for one normalised log-mel block ``(4 T, n_mels)``: ``(T, curves)`` float32,
        0 = an average speaker's closed mouth, 1 = their typical wide value."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mel.T[None], np.float32))
            return self.network(x)[0].T.numpy().astype(np.float32)

    def predict(self, samples: np.ndarray, sample_rate: int, fps: float = 25.0,
                window_seconds: float = 60.0) -> dict[str, np.ndarray]:
        """Mouth curves for a mono recording.

        Args:
            samples: mono waveform, float in [-1, 1] (int16 is rescaled).
            sample_rate: Hz (any; resampled to 16 kHz).
            fps: output frame rate; frame ``k`` is the mouth at ``k / fps`` seconds.
            window_seconds: the recording is processed in windows of this length (plus overlap that is
                thrown away), so working memory stays flat for hour-long recordings; the result equals
                one pass over the whole.

        Returns:
            ``{curve: (ceil(duration * fps),) float32}`` in the units of :data:`Audio2MouthConfig.rest` /
            ``spread`` (see the module docstring); blendshapes clipped to [0, 1], gaps to ≥ 0.
        """
        samples = np.asarray(samples)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        if samples.ndim != 1:
            raise ValueError(f"expected a mono waveform (1-D), got shape {samples.shape}")
        samples = features.resample(np.asarray(samples, np.float32), sample_rate)  # no copy at 16 kHz float32
        return self._predict(lambda: _ArraySource(samples), fps, window_seconds)

    def predict_file(self, path, fps: float = 25.0, window_seconds: float = 60.0) -> dict[str, np.ndarray]:
        """:meth:`predict` for the first audio track of a file (audio or video), read twice in chunks
        with :class:`~headshot.io.audio.AudioReader` so that memory stays flat for any length (the
        first pass measures the recording's loudness and spectrum, the second predicts)."""
        return self._predict(lambda: _FileSource(path), fps, window_seconds)

    def _predict(self, open_source, fps: float, window_seconds: float) -> dict[str, np.ndarray]:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        mel_config = features.MelConfig(n_mels=self.config.n_mels)
        source = open_source()
        stats = _recording_stats(source, window_seconds, mel_config)
        n_samples = source.length
        normalised = self._predict_native(open_source(), n_samples, stats, window_seconds, mel_config)
        # Resample the 25 fps curves to the requested rate (linear; identity at 25 fps).
        n_out = max(1, math.ceil(round(n_samples / features.SAMPLE_RATE * fps, 6)))
        native_times = np.arange(len(normalised)) / NATIVE_FPS
        times = np.arange(n_out) / fps
        rest = np.asarray(self.config.rest, np.float32)
        spread = np.asarray(self.config.spread, np.float32)
        out = {}
        for index, name in enumerate(self.curves):
            curve = np.interp(times, native_times, normalised[:, index]) * spread[index] + rest[index]
            upper = 1.0 if name not in ("lip_gap", "mouth_width") else np.inf
            out[name] = np.clip(curve, 0.0, upper).astype(np.float32)
        return out

    def _predict_native(self, source, n_samples: int, stats: features.RecordingStats, window_seconds: float,
                        mel_config: features.MelConfig) -> np.ndarray:
        """Normalised 25 fps curves ``(ceil(n_samples / 640) + 1, curves)``, window by window.

        Each window is computed with ``margin`` extra frames each side (more than the receptive field)
        that are thrown away, and its log-mel rows are bit-identical to the whole recording's, so the
        result does not depend on ``window_seconds``.
        """
        samples_per_frame = mel_config.hop * MEL_PER_FRAME
        n_frames = -(-n_samples // samples_per_frame) + 1  # frame i at i / 25 s; the last at or past the end
        window = max(1, round(window_seconds * NATIVE_FPS))
        margin = self.config.context_frames + 2
        out = np.zeros((n_frames, len(self.curves)), np.float32)
        for start in range(0, n_frames, window):
            stop = min(n_frames, start + window)
            first, last = start - margin, stop + margin
            mel = _log_mel(source, first * MEL_PER_FRAME, (last - first) * MEL_PER_FRAME, mel_config)
            curves = self.predict_normalised(features.normalise(mel, stats))
            out[start:stop] = curves[start - first:stop - first]
        return out


class _ArraySource:
    """16 kHz samples in memory, read as ``[lo, hi)`` ranges (zeros outside)."""

    def __init__(self, samples: np.ndarray):
        self.samples = samples
        self.length = len(samples)

    def read(self, lo: int, hi: int) -> np.ndarray:
        out = np.zeros(max(hi - lo, 0), np.float32)
        a, b = max(lo, 0), min(hi, self.length)
        if b > a:
            out[a - lo:b - lo] = self.samples[a:b]
        return out


class _FileSource:
    """A file's audio at 16 kHz decoded chunk by chunk, read as ``[lo, hi)`` ranges with ``lo`` never
    decreasing (zeros outside); ``length`` is known once the end has been read."""

    def __init__(self, path):
        from ..io.audio import AudioReader

        self._reader = AudioReader(path, sample_rate=features.SAMPLE_RATE, chunk_seconds=5.0)
        self._chunks = iter(self._reader)
        self._buffer = np.zeros(0, np.float32)
        self._base = 0  # sample index of _buffer[0]
        self.length: int | None = None

    def read(self, lo: int, hi: int) -> np.ndarray:
        while self.length is None and self._base + len(self._buffer) < hi:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.length = self._base + len(self._buffer)
                self._reader.close()
            else:
                self._buffer = np.concatenate([self._buffer, np.asarray(chunk, np.float32)])
        drop = min(max(lo - self._base, 0), len(self._buffer))  # nothing before lo is read again
        self._buffer, self._base = self._buffer[drop:], self._base + drop
        out = np.zeros(max(hi - lo, 0), np.float32)
        a, b = max(lo, self._base), min(hi, self._base + len(self._buffer))
        if b > a:
            out[a - lo:b - lo] = self._buffer[a - self._base:b - self._base]
        return out


def _log_mel(source, start_frame: int, n_frames: int, config: features.MelConfig) -> np.ndarray:
    lo, hi = features.excerpt_bounds(start_frame, n_frames, config)
    return features.log_mel_of_excerpt(source.read(lo, hi), n_frames, config)


def _recording_stats(source, window_seconds: float, config: features.MelConfig) -> features.RecordingStats:
    """:func:`features.recording_stats` of a source, block by block (the source's length is then known)."""
    step = max(1, round(window_seconds / features.HOP_SECONDS))

    def blocks():
        start = 0
        while True:
            if source.length is None:
                source.read(*features.excerpt_bounds(start, step, config))
            total = features.frame_count(source.length, config) if source.length is not None else None
            if total is not None and start >= total:
                return
            count = step if total is None else min(step, total - start)
            yield _log_mel(source, start, count, config)
            start += count

    return features.recording_stats(blocks())


def recording_stats(samples: np.ndarray, window_seconds: float = 60.0,
                    mel_config: features.MelConfig | None = None) -> features.RecordingStats:
    """:func:`features.recording_stats` of a 16 kHz recording, computed window by window (flat memory)."""
    return _recording_stats(_ArraySource(samples), window_seconds, mel_config or features.MelConfig())
