"""Several photos of one person (``headshot animate a.jpg b.jpg c.jpg``): the shots after the first.

The first photo is the one animated (its crop frames the output, its background is pasted back); the
others are *shots*, extra views an engine that declares ``info.takes_shots`` draws from (the warp engine:
each part of the face from the photo that sees it best, :mod:`headshot.render.multishot`; the neural
engine: the mean identity embedding). Each shot's face is found, cropped like the first photo's (same
size, same framing) and checked to be the same person: SFace identity embeddings
(:mod:`headshot.face.identity`) must have a cosine of at least
:data:`~headshot.face.identity.SAME_PERSON_COSINE` with the first photo's, else a one-line
:class:`~headshot.errors.InputError` names the photo. In a shot with several faces, the one most like
the first photo's is used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .errors import NoFaceError, OptionError
from .face.crop import crop, crop_box
from .face.identity import SAME_PERSON_COSINE, SFaceEmbedder, check_same_person

log = logging.getLogger("headshot")

MAX_SHOTS = 64


def photo_list(source) -> list:
    """``source`` as a list of photos: a path or an RGB array alone, or a list/tuple of them (at least one,
    at most :data:`MAX_SHOTS`). :class:`OptionError` for an empty list or a bad type."""
    if isinstance(source, (list, tuple)):
        photos = list(source)
        if not photos:
            raise OptionError("give at least one source photo")
        if len(photos) > MAX_SHOTS:
            raise OptionError(f"{len(photos)} source photos: at most {MAX_SHOTS}")
    else:
        photos = [source]
    for photo in photos:
        if not isinstance(photo, (str, os.PathLike, np.ndarray)):
            raise OptionError(f"a source must be a photo path or an RGB uint8 array (got {type(photo).__name__})")
    return photos


def photo_name(photo, index: int) -> str:
    """How messages name a photo: its file name, or ``photo N`` for an array."""
    return Path(photo).name if isinstance(photo, (str, os.PathLike)) else f"photo {index + 1}"


def load_shots(images: list[np.ndarray], names: list[str], analyzer, reference_image: np.ndarray,
               reference_landmarks: np.ndarray, size: int, crop_scale: float,
               reference_name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The shots ``[(crop RGB uint8 (size, size, 3), landmarks (478, 3) in its pixels), ...]`` of ``images``
    (RGB uint8, the photos after the first, called ``names`` in messages), each face cropped as the first
    photo's was (``crop_box(landmarks, scale=crop_scale)`` resampled to ``size``).

    ``analyzer``: an open :class:`~headshot.face.landmarker.FaceAnalyzer` (image mode);
    ``reference_image`` / ``reference_landmarks``: the first photo (RGB uint8) and its face's landmarks in
    its pixels. Raises :class:`NoFaceError` for a photo without a face and :class:`InputError` for a photo
    of someone else (one line each, naming the photo).
    """
    embedder = SFaceEmbedder()
    reference = embedder.embed(reference_image, reference_landmarks)
    shots, embeddings, named = [], [reference], [reference_name]
    for image, name in zip(images, names):
        faces = analyzer.detect(image)
        if not faces:
            raise NoFaceError(f"no face found in {name}: every source photo must show the person's face")
        candidates = [embedder.embed(image, face.landmarks) for face in faces]
        best = int(np.argmax([float(np.dot(reference, e)) for e in candidates]))
        if len(faces) > 1:
            log.info("%s: %d faces found, using the one most like %s", name, len(faces), reference_name)
        embeddings.append(candidates[best])
        named.append(name)
        landmarks = faces[best].landmarks
        box = crop_box(landmarks, scale=crop_scale)
        shots.append((crop(image, box, size), box.to_crop(landmarks, size)))
    cosines = check_same_person(embeddings, named, SAME_PERSON_COSINE)
    log.info("%d photos of one person (identity similarity to %s: %s)", len(named), reference_name,
             ", ".join(f"{c:.2f}" for c in cosines[1:]))
    return shots
