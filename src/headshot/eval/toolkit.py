"""The detectors and networks an evaluation run shares: the face analyzer, identity embedders, MobileNetV2
(perceptual distance and FID features) and, when given weights, LPIPS and Inception.

:class:`Toolkit` creates them once and memoises per image, since identical images recur (the unmoved-source
baseline renders one image per frame).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import HeadshotError
from . import metrics


@dataclass
class Observation:
    """What the detector sees in one image: landmarks (478, 3) pixels, head angles (deg), blendshapes."""

    landmarks: np.ndarray
    angles: np.ndarray
    blendshapes: np.ndarray


# ``--identity`` choices: the identity embedders each runs, and the per-frame CSIM key of each embedder.
IDENTITY_CHOICES = {"sface": ("sface",), "both": ("sface", "dlib")}
CSIM_KEYS = {"sface": "csim", "dlib": "csim_dlib"}


def check_identity(identity: str) -> None:
    """Raise :class:`HeadshotError` for an unknown ``identity`` choice, and :class:`MissingModelError` (with
    the pip command) when it needs dlib and dlib is not installed; cheap, for checks before a long run."""
    if identity not in IDENTITY_CHOICES:
        raise HeadshotError(f"unknown --identity {identity!r}; choose from {', '.join(IDENTITY_CHOICES)}")
    if "dlib" in IDENTITY_CHOICES[identity]:
        from ..assets import dlib_model_path
        from .identity import import_dlib

        import_dlib()
        dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")


def make_embedder(name: str):
    """An identity embedder by name: ``sface`` (:class:`SFaceEmbedder`) or ``dlib`` (:class:`DlibEmbedder`,
    which raises :class:`MissingModelError` when ``headshot[dlib]`` is not installed)."""
    from .identity import DlibEmbedder, SFaceEmbedder

    return {"sface": SFaceEmbedder, "dlib": DlibEmbedder}[name]()


class Toolkit:
    """The detectors and networks a run needs, created once (all CPU, single-threaded where possible).

    ``identity``: a key of :data:`IDENTITY_CHOICES`; ``both`` adds dlib's ResNet as a CSIM cross-check."""

    def __init__(self, lpips_weights: str | Path | None = None, inception_weights: str | Path | None = None,
                 identity: str = "sface"):
        from ..face.landmarker import FaceAnalyzer
        from .features import MobileNetV2Metrics

        check_identity(identity)
        self.embedders = {name: make_embedder(name) for name in IDENTITY_CHOICES[identity]}
        self.analyzer = FaceAnalyzer(video=False, max_faces=1)
        self.mobilenet = MobileNetV2Metrics()
        self.lpips = None
        self.inception = None
        if lpips_weights:
            from .features import LPIPS

            self.lpips = LPIPS(lpips_weights)
        if inception_weights:
            from .features import InceptionFeatures

            self.inception = InceptionFeatures(inception_weights)

    def close(self) -> None:
        self.analyzer.close()

    def forget(self) -> None:
        """Drop the per-image memo (call between items)."""
        self._memo: dict = {}

    def _remember(self, key: tuple, compute):
        # Identical images recur (the unmoved-source baseline renders one image per frame): compute once.
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    @staticmethod
    def _digest(*arrays: np.ndarray) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.digest()

    def observe(self, image: np.ndarray) -> Observation | None:
        """The largest face in ``image`` (RGB uint8), or ``None`` when the detector finds none."""
        def compute():
            faces = self.analyzer.detect(image)
            if not faces:
                return None
            face = faces[0]
            return Observation(face.landmarks, metrics.euler_angles(face.pose_matrix), face.blendshapes)

        return self._remember(("observe", self._digest(image)), compute)

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        """Identity embeddings ``{embedder name: (128,)}`` (``sface``, and ``dlib`` when enabled) of the face
        in ``image`` at ``landmarks`` (its pixels)."""
        return self._remember(("embed", self._digest(image, landmarks)),
                              lambda: {name: e.embed(image, landmarks) for name, e in self.embedders.items()})

    def encode(self, images: list[np.ndarray]) -> tuple[list, dict[str, np.ndarray]]:
        """``(perceptual feature maps, {network: FID features (N, D)})`` of RGB uint8 crops; identical
        images are encoded once."""
        digests = [self._digest(image) for image in images]
        unique = list(dict.fromkeys(digests))
        first = [digests.index(d) for d in unique]
        where = [unique.index(d) for d in digests]
        taps, pooled = self.mobilenet.encode([images[i] for i in first])
        taps = [tap[where] for tap in taps]
        features = {"mobilenet": pooled[where]}
        if self.inception is not None:
            features["inception"] = self.inception([images[i] for i in first])[where]
        return taps, features
