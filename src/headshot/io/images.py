"""Read and write still images as RGB uint8 HWC numpy arrays (Pillow).

Reading applies the EXIF orientation, flattens transparency on white (or returns it, with
:func:`read_image_rgba`), and converts every Pillow mode to 8-bit RGB:

- ``1``, ``L``, ``P``, ``LA``, ``PA``, ``YCbCr``, ``LAB``, ``HSV``: Pillow's own conversion.
- ``CMYK``: through the embedded ICC profile when there is one (to sRGB), else Pillow's formula.
- ``I;16*`` (16-bit PNG/TIFF gray): divided by 257 (65535 -> 255).
- ``I`` (32-bit int): kept if within 0..255, divided by 257 if within 0..65535, else min-max scaled.
- ``F`` (32-bit float): x 255 if within 0..1, kept if within 0..255, else min-max scaled.
- Multi-frame files (GIF, TIFF): the first frame.

Writing is atomic (temporary file + rename) and picks the format from the extension.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError, OutputError
from .atomic import atomic_output, check_output_path
from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_image_path, is_video_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "is_image_path",
    "is_video_path",
    "read_image",
    "read_image_rgba",
    "write_image",
    "to_rgb_uint8",
]

log = logging.getLogger(__name__)

_SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_FORMATS_WITH_ALPHA = {"PNG", "WEBP", "TIFF"}


def read_image(source: str | os.PathLike | np.ndarray) -> np.ndarray:
    """Read an image file (or validate an array) as RGB uint8 HWC, transparency composited on white.

    ``source`` is a path or an array (HW, HW1, HW3 or HW4; uint8, uint16, bool or float in [0, 1]),
    which is converted the same way as a file. Raises :class:`InputError` (one line naming the file)
    when the file is missing, empty, truncated, corrupt or not an image.
    """
    rgba = read_image_rgba(source)
    return _flatten_on_white(rgba) if rgba.shape[2] == 4 else rgba


def read_image_rgba(source: str | os.PathLike | np.ndarray) -> np.ndarray:
    """Like :func:`read_image` but keeps transparency: RGBA uint8 HWC if the image has any, else RGB.

    Callers that paste results back into a transparent portrait use the alpha channel; an image with
    no transparency comes back with 3 channels (check ``shape[2]``).
    """
    if isinstance(source, np.ndarray):
        return to_rgb_uint8(source, keep_alpha=True)
    path = Path(source).expanduser()
    return _pil_to_array(_open_pil(path), path)


def to_rgb_uint8(array: np.ndarray, keep_alpha: bool = False) -> np.ndarray:
    """Convert an image array to RGB uint8 HWC (or RGBA when ``keep_alpha`` and it has 4 channels).

    Accepts HW / HW1 (gray), HW3 (RGB) and HW4 (RGBA), with dtype uint8, uint16 (divided by 257), bool,
    or float in [0, 1]. Anything else raises :class:`InputError`. Returns a C-contiguous array (the input
    itself when it is already RGB uint8 and contiguous).
    """
    if not isinstance(array, np.ndarray):
        raise InputError(f"expected an image array, got {type(array).__name__}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InputError(f"expected an image array of shape HxW, HxWx3 or HxWx4, got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"image array is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = _uint16_to_uint8(array)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise InputError("float image arrays must hold values in [0, 1]")
        array = np.round(array * 255.0).astype(np.uint8)
    else:
        raise InputError(f"unsupported image array dtype {array.dtype}; use uint8 RGB")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.shape[2] == 4 and not keep_alpha:
        array = _flatten_on_white(array)
    return np.ascontiguousarray(array)


def write_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB (or RGBA) uint8 HWC image atomically; the format comes from the extension.

    Supported: .png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff. ``quality`` (1-100) applies to JPEG and WebP;
    JPEG at quality >= 90 keeps full chroma resolution (4:4:4). RGBA is kept for PNG, WebP and TIFF and
    flattened on white otherwise. Raises :class:`OutputError` if the path cannot be written. Returns the
    absolute output path.
    """
    target = check_output_path(path, kinds=("image",))
    image_format = _SAVE_FORMATS[target.suffix.lower()]
    array = to_rgb_uint8(rgb, keep_alpha=image_format in _FORMATS_WITH_ALPHA)
    image = Image.fromarray(array, mode="RGBA" if array.shape[2] == 4 else "RGB")
    options: dict = {}
    if image_format == "JPEG":
        options = {"quality": int(quality), "subsampling": 0 if quality >= 90 else 2, "optimize": False}
    elif image_format == "WEBP":
        options = {"quality": int(quality), "method": 4}
    elif image_format == "PNG":
        options = {"compress_level": 6}
    elif image_format == "TIFF":
        options = {"compression": "tiff_deflate"}
    with atomic_output(target) as temp:
        try:
            image.save(temp, format=image_format, **options)
        except OSError as error:
            raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    return target


# --------------------------------------------------------------------------------------------- reading


def _open_pil(path: Path) -> Image.Image:
    """Open, fully decode and EXIF-orient an image file; every failure becomes a one-line InputError."""
    name = str(path)
    if not path.exists():
        raise InputError(f"image not found: {name}")
    if path.is_dir():
        raise InputError(f"expected an image file, got a folder: {name}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read image {name}: {error.strerror or error}") from None
    if not data:
        raise InputError(f"image file is empty: {name}")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # decode now: truncated or corrupt data fails here, not later
    except UnidentifiedImageError:
        hint = " (it looks like a video)" if is_video_path(path) else ""
        raise InputError(f"not an image file Pillow can read: {name}{hint}") from None
    except Image.DecompressionBombError:
        raise InputError(f"image is too large to decode safely: {name}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"image file is corrupt or truncated: {name} ({_one_line(error)})") from None
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception as error:  # a malformed EXIF block must not make the photo unreadable
        log.warning("ignoring unreadable EXIF orientation in %s: %s", name, _one_line(error))
        oriented = image
    if oriented is not None and oriented is not image:
        oriented.info.setdefault("icc_profile", image.info.get("icc_profile"))
        image = oriented
    return image


def _pil_to_array(image: Image.Image, path: Path) -> np.ndarray:
    """Convert any Pillow mode to RGB or RGBA uint8 HWC (see the module docstring for the rules)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        gray = _uint16_to_uint8(np.asarray(image).astype(np.uint16))
        return _gray_to_rgb(gray)
    if mode == "I":
        return _gray_to_rgb(_scale_wide_range(np.asarray(image).astype(np.int64), integer=True))
    if mode == "F":
        return _gray_to_rgb(_scale_wide_range(np.asarray(image).astype(np.float64), integer=False))
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(image, path))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    try:
        converted = image.convert("RGBA" if has_alpha else "RGB")
    except (OSError, ValueError) as error:
        raise InputError(f"cannot convert image {path} from mode {mode} to RGB: {_one_line(error)}") from None
    array = np.asarray(converted)
    if array.shape[2] == 4 and (array[:, :, 3] == 255).all():
        array = array[:, :, :3]  # declared transparency that is never used
    return np.ascontiguousarray(array)


def _cmyk_to_rgb(image: Image.Image, path: Path) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms  # needs Pillow built with LittleCMS (the PyPI wheels are)

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception as error:  # missing LittleCMS or a broken profile: use Pillow's formula
            log.warning("ignoring unusable ICC profile in %s: %s", path, _one_line(error))
    return image.convert("RGB")


def _uint16_to_uint8(array: np.ndarray) -> np.ndarray:
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _scale_wide_range(values: np.ndarray, integer: bool) -> np.ndarray:
    """Map 32-bit int or float gray values to uint8 by their evident range (see the module docstring)."""
    low, high = float(values.min()), float(values.max())
    if not integer and low >= 0.0 and high <= 1.0:
        return np.round(values * 255.0).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(values).astype(np.uint8)
    if integer and low >= 0 and high <= 65535:
        return _uint16_to_uint8(values)
    if not np.isfinite(high - low) or high == low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _flatten_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite RGBA uint8 over a white background (exact integer rounding)."""
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    rgb = rgba[:, :, :3].astype(np.uint16)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
