"""The neural engine: the Zakharov et al. 2019 generator behind the engine contract of DESIGN.md.

``prepare(source_crop, source_landmarks)`` computes the identity embedding e_hat with the embedder (more
shots through :meth:`NeuralEngine.prepare_shots`) and caches the generator's AdaIN parameters
``psi = P e_hat``; ``render(target_landmarks, ...)`` draws the landmark sketch at the model's resolution,
runs G and resizes the result back to the crop's size (warp-guided models: G's image and blend mask are
up-sampled and blended with the warp engine's full-resolution rendering, so the output is as sharp as the
warp it refines). A fine-tuned person file (``headshot finetune``)
carries its own psi (and usually a fine-tuned G): then the embedder is not needed. The engine never
trains: in-memory fine-tuning (``headshot.train.finetune.finetune_engine``) hands it the tuned G and psi
through :meth:`NeuralEngine.set_person`.

Warp-guided models also run the warp engine (``headshot.render.warp``) to make G's guide image.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..render.base import EngineInfo
from .checkpoint import ModelFile, default_model_path, load_model
from .config import ModelConfig
from .embedder import Embedder
from .generator import Generator, composite
from .layers import bake_spectral_norm
from .sketch import draw_sketch, to_tensor

BACKENDS = ("auto", "torch", "onnx")


def _check_image(image: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{what} must be an RGB uint8 (H, W, 3) array")
    return image


def _check_landmarks(landmarks: np.ndarray, what: str) -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 2 or landmarks.shape[0] != 478:
        raise InputError(f"{what} must be (478, 3) landmarks, got shape {landmarks.shape}")
    return landmarks


class NeuralEngine:
    """Render a face crop from landmarks with a trained (or fine-tuned) few-shot generator.

    Args:
        model_path: a model file from ``headshot train`` (embedder + generator) or a person file from
            ``headshot finetune`` (generator + psi; a feed-forward person file with psi only is rendered
            by its recorded base model, else the default). None: the bundled default model.
        device: torch device for the networks (``cpu`` or ``cuda``).
        person_path: optional person file applied on top of ``model_path`` (its psi, and its generator if
            it has one).
        use_ema: prefer the EMA generator (``generator_ema``) when the file has one.
        backend: how G runs: ``torch``, ``onnx`` (ONNX Runtime, CPU only, ~2x faster on one core) or
            ``auto`` (``onnx`` on CPU when it can export, else ``torch``).
        threads: ONNX Runtime threads (the ``torch`` backend uses torch's own setting).
    """

    # uses_driver_pixels: warp-guided models (the default) pass the driver frame on to their warp guide.
    info = EngineInfo(name="neural", description="few-shot generator of Zakharov et al. 2019 (model file, torch)",
                      uses_driver_pixels=True, needs_model=True, finetunes=True, takes_shots=True)

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu",
                 person_path: str | Path | None = None, use_ema: bool = True, backend: str = "auto",
                 threads: int = 1):
        if backend not in BACKENDS:
            raise InputError(f"unknown neural backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        model = load_model(model_path if model_path is not None else default_model_path())
        person = load_model(person_path) if person_path is not None else None
        if person is None and model.generator_name(use_ema) is None and "psi" in model.tensors:
            # A feed-forward person file (psi only) given as the model: its base model renders it.
            person, model = model, load_model(_base_model_path(model))
        generator_source = person if person is not None and person.generator_name(use_ema) else model
        generator_name = generator_source.generator_name(use_ema)
        if generator_name is None:
            raise InputError("model file has no generator")
        self.config: ModelConfig = generator_source.config
        self.generator = self._build(Generator(self.config), generator_source, generator_name)
        self.embedder = None
        if "embedder" in model.states:
            self.embedder = self._build(Embedder(model.config), model, "embedder")
        self.fixed_psi = None
        for source in (model, person):
            if source is not None and "psi" in source.tensors:
                self.fixed_psi = source.tensors["psi"].reshape(1, -1).to(self.device)
        if self.fixed_psi is None and self.embedder is None:
            raise InputError("model file has neither an embedder nor a fine-tuned psi")
        if self.fixed_psi is not None and self.fixed_psi.shape[1] != self.generator.psi_dim:
            raise InputError(f"the person file's psi has {self.fixed_psi.shape[1]} values but the generator "
                             f"takes {self.generator.psi_dim}: it was fine-tuned from another model")
        self._base_model = model
        self._backend, self._threads = backend, threads
        self.runner = self._runner(backend, threads)
        self._reset()

    @classmethod
    def from_modules(cls, generator: Generator, embedder: Embedder | None = None,
                     psi: torch.Tensor | None = None, device: str = "cpu") -> "NeuralEngine":
        """An engine around in-memory networks (training previews, tests). The modules are used as they
        are (not copied, not baked): call it on copies if training continues."""
        engine = cls.__new__(cls)
        engine.device = torch.device(device)
        engine.config = generator.cfg
        engine.generator = generator.to(engine.device).eval()
        engine.embedder = embedder.to(engine.device).eval() if embedder is not None else None
        engine.fixed_psi = psi.reshape(1, -1).to(engine.device) if psi is not None else None
        if engine.fixed_psi is None and engine.embedder is None:
            raise ValueError("need an embedder or a psi")
        engine.runner = engine.generator
        engine._base_model = None
        engine._backend, engine._threads = "torch", 1
        engine._reset()
        return engine

    def _runner(self, backend: str, threads: int):
        """The object whose ``forward_with_psi`` renders: the generator, or its ONNX Runtime session."""
        if backend == "torch" or (backend == "auto" and self.device.type != "cpu"):
            return self.generator
        if self.device.type != "cpu":
            raise InputError("the onnx backend runs on CPU only; use --device cpu or backend torch")
        try:
            from .runtime import OnnxGenerator

            return OnnxGenerator(self.generator, threads)
        except Exception as error:  # noqa: BLE001 - any export/runtime failure: fall back when allowed
            if backend == "onnx":
                raise
            warnings.warn(f"ONNX Runtime backend unavailable ({type(error).__name__}: {error}); using torch",
                          RuntimeWarning, stacklevel=3)
            return self.generator

    def _build(self, module: torch.nn.Module, source: ModelFile, name: str) -> torch.nn.Module:
        source.load_into(name, module)
        return bake_spectral_norm(module).to(self.device).eval()

    def _reset(self) -> None:
        self._shots: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.embedding: torch.Tensor | None = None
        self.psi: torch.Tensor | None = self.fixed_psi
        self._crop_size: tuple[int, int] | None = None
        self._warp = None

    # -- engine contract --------------------------------------------------------------------------

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """Take the source: ``source_crop`` RGB uint8 (H, W, 3), ``source_landmarks`` (478, 3) in its pixels.

        Computes e_hat from this one shot (replacing earlier shots) unless a fine-tuned psi is loaded.
        """
        _check_image(source_crop, "source crop")
        source_landmarks = _check_landmarks(source_landmarks, "source landmarks")
        self._reset()
        self._crop_size = source_crop.shape[:2]
        if self.config.warp_guided:
            from ..render.multishot import MultiShotWarpEngine

            # With one shot exactly the warp engine; further shots (prepare_shots) make the guide too.
            self._warp = MultiShotWarpEngine()
            self._warp.prepare(source_crop, source_landmarks)
        if self.fixed_psi is None:
            self._shots.append(self._shot(source_crop, source_landmarks))
            self._embed()

    def prepare_shots(self, shots: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add more shots ``[(crop RGB uint8, landmarks (478, 3) in its pixels), ...]`` of the same person,
        each cropped like the first. e_hat becomes the mean over all shots so far; a warp-guided model's
        guide draws every part of the face from the shot that sees it best (the warp engine's few-shot
        rendering, :mod:`headshot.render.multishot`). Call after :meth:`prepare`."""
        if self._crop_size is None:
            raise InputError("call prepare() before prepare_shots()")
        checked = [(_check_image(crop, f"shot {index}"), _check_landmarks(landmarks, f"shot {index} landmarks"))
                   for index, (crop, landmarks) in enumerate(shots)]
        if self._warp is not None:
            self._warp.prepare_shots(checked)
        if self.fixed_psi is not None:
            return  # a fine-tuned person file already fixes the identity (the guide still takes the shots)
        self._shots.extend(self._shot(crop, landmarks) for crop, landmarks in checked)
        self._embed()

    # -- personalisation (the fine-tuning itself is train/'s: headshot.train.finetune.finetune_engine) ------

    @property
    def prepared(self) -> bool:
        """Whether :meth:`prepare` has taken a source."""
        return self._crop_size is not None

    @property
    def base_model(self) -> ModelFile | None:
        """The model file the engine was loaded from (fine-tuning starts from it); None from :meth:`from_modules`."""
        return self._base_model

    def shots_at_model_size(self, shots: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """``shots`` = ``[(crop RGB uint8, landmarks (478, 3) in its pixels), ...]`` resized to the model's
        ``image_size`` S: crops ``(T, S, S, 3)`` RGB uint8 and landmarks ``(T, 478, 3)`` float32 in their pixels."""
        size = self.config.image_size
        crops, points = [], []
        for index, (crop, landmarks) in enumerate(shots):
            _check_image(crop, f"shot {index}")
            landmarks = _check_landmarks(landmarks, f"shot {index} landmarks").copy()
            height, width = crop.shape[:2]
            landmarks[:, 0] *= size / width
            landmarks[:, 1] *= size / height
            landmarks[:, 2] *= size / width
            crops.append(self._resize(crop, (size, size)))
            points.append(landmarks)
        return np.stack(crops), np.stack(points)

    def set_person(self, generator: Generator, psi: torch.Tensor, embedding: torch.Tensor | None = None) -> None:
        """Render with a generator and AdaIN parameters ``psi`` ``(psi_dim,)`` fine-tuned on this engine's
        person (by the caller) from now on, also after another :meth:`prepare`."""
        self.generator = bake_spectral_norm(generator).to(self.device).eval()
        self.fixed_psi = self.psi = psi.reshape(1, -1).to(self.device)
        if embedding is not None:
            self.embedding = embedding.reshape(1, -1).to(self.device)
        self.runner = self._runner(self._backend, self._threads)

    @torch.inference_mode()
    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """The source face with ``target_landmarks`` ((478, 3), source-crop pixels): RGB uint8 of the crop's
        size. ``driver_frame`` / ``driver_landmarks`` are only used by warp-guided models (passed on to
        the warp engine)."""
        if self._crop_size is None:
            raise InputError("call prepare() before render()")
        target_landmarks = _check_landmarks(target_landmarks, "target landmarks")
        size = self.config.image_size
        sketch = to_tensor(draw_sketch(target_landmarks, size, self.config.sketch, self._crop_size))
        height, width = self._crop_size
        if self._warp is None:
            image = self.runner.forward_with_psi(sketch[None].to(self.device), self.psi)[0]
            return self._resize(_to_uint8(image), (height, width))
        # Warp-guided: G sees the guide at its own resolution, but its correction and blend mask are
        # up-sampled and blended with the full-resolution warp (the output keeps the warp's detail).
        warped = self._warp.render(target_landmarks, driver_frame, driver_landmarks)
        guide = to_tensor(self._resize(warped, (size, size)))[None].to(self.device)
        parts = self.runner.forward_with_psi(sketch[None].to(self.device), self.psi, guide, parts=True)
        full_guide = to_tensor(warped)[None].to(parts.device)
        return _to_uint8(composite(parts.float(), full_guide)[0])

    # -- internals ---------------------------------------------------------------------------------

    def _shot(self, crop: np.ndarray, landmarks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.image_size
        frame = to_tensor(self._resize(crop, (size, size)))
        sketch = to_tensor(draw_sketch(landmarks, size, self.config.sketch, crop.shape[:2]))
        return frame, sketch

    @torch.inference_mode()
    def _embed(self) -> None:
        frames = torch.stack([f for f, _ in self._shots])[None].to(self.device)
        sketches = torch.stack([s for _, s in self._shots])[None].to(self.device)
        self.embedding = self.embedder(frames, sketches)
        self.psi = self.generator.adain_params(self.embedding)

    @staticmethod
    def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        height, width = shape
        if image.shape[:2] == (height, width):
            return np.ascontiguousarray(image)
        shrinking = height < image.shape[0]
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] -> RGB uint8 ``(H, W, 3)`` on the CPU."""
    return image.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _base_model_path(person: ModelFile) -> Path:
    """The base model of a person file: its recorded ``base_model`` if that file exists, else the default."""
    recorded = person.metadata.get("base_model")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return default_model_path()
