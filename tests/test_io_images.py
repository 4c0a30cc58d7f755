"""Image reading and writing (headshot.io.images) on the bundled astronaut and dev portraits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from headshot.errors import InputError, OutputError
from headshot.io.images import read_image, read_image_rgba, to_rgb_uint8, write_image


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_reads_dev_portrait(dev_data):
    path = sorted((dev_data / "portraits").glob("*.jpg"))[0]
    image = read_image(path)
    with Image.open(path) as reference:
        assert image.shape == (reference.height, reference.width, 3)
    assert image.dtype == np.uint8 and image.flags.c_contiguous
    assert image.std() > 10  # a photo, not a blank


def test_exif_orientation_is_applied(tmp_path, astronaut):
    stored = astronaut[:, :300]  # 512 rows x 300 columns, not square so the rotation shows
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = read_image(tmp_path / "rotated.jpg")
    assert shown.shape == (300, 512, 3)
    assert _psnr(shown, np.rot90(stored, k=-1)) > 30
    assert _psnr(shown[:, :300], np.rot90(stored, k=1)[:, :300]) < 20  # not the other way round


@pytest.mark.parametrize(
    "orientation, display",
    [
        (1, lambda a: a),
        (2, np.fliplr),
        (3, lambda a: np.rot90(a, 2)),
        (4, np.flipud),
        (5, lambda a: a.transpose(1, 0, 2)),
        (6, lambda a: np.rot90(a, -1)),
        (7, lambda a: np.rot90(a, 2).transpose(1, 0, 2)),
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_all_eight_exif_orientations(tmp_path, astronaut, orientation, display):
    stored = astronaut[40:200, 100:400]  # 160x300, asymmetric
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "oriented.png", exif=exif)  # lossless, so the comparison is exact
    assert np.array_equal(read_image(tmp_path / "oriented.png"), display(stored))


def test_rgba_composited_on_white_and_alpha_kept(tmp_path, astronaut):
    alpha = np.zeros(astronaut.shape[:2], np.uint8)
    alpha[:, 256:] = 255
    alpha[:100, :] = 128
    Image.fromarray(np.dstack([astronaut, alpha]), "RGBA").save(tmp_path / "cutout.png")
    rgb = read_image(tmp_path / "cutout.png")
    assert rgb.shape == (512, 512, 3)
    assert (rgb[200:, :256] == 255).all()  # fully transparent -> white
    assert np.array_equal(rgb[200:, 256:], astronaut[200:, 256:])  # opaque -> unchanged
    expected = (astronaut[:100].astype(np.int32) * 128 + 255 * 127 + 127) // 255
    assert np.abs(rgb[:100].astype(np.int32) - expected).max() <= 1
    rgba = read_image_rgba(tmp_path / "cutout.png")
    assert rgba.shape == (512, 512, 4)
    assert np.array_equal(rgba[:, :, 3], alpha)
    assert read_image_rgba(tmp_path / "cutout.png")[:, :, :3][alpha == 255].tolist() == (
        astronaut[alpha == 255].tolist()
    )


def test_grayscale_and_la(tmp_path, astronaut):
    gray = np.asarray(Image.fromarray(astronaut).convert("L"))
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    rgb = read_image(tmp_path / "gray.png")
    assert rgb.shape == (512, 512, 3)
    assert np.array_equal(rgb[:, :, 0], gray) and np.array_equal(rgb[:, :, 1], gray)
    la = Image.fromarray(np.dstack([gray, np.full_like(gray, 0)]), "LA")
    la.save(tmp_path / "la.png")
    assert (read_image(tmp_path / "la.png") == 255).all()


def test_16_bit_png_gray_and_rgb(tmp_path, astronaut):
    import cv2

    ramp = np.linspace(0, 65535, 256 * 64).reshape(64, 256).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "gray16.png")
    with Image.open(tmp_path / "gray16.png") as check:
        assert check.mode.startswith("I")  # really a 16-bit file
    gray = read_image(tmp_path / "gray16.png")
    assert gray.dtype == np.uint8 and gray.shape == (64, 256, 3)
    assert gray[0, 0, 0] == 0 and gray[-1, -1, 0] == 255
    assert np.abs(gray[:, :, 0].astype(int) - np.round(ramp / 257.0)).max() <= 1

    rgb16 = astronaut.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[:, :, ::-1])  # OpenCV writes BGR
    assert np.abs(read_image(tmp_path / "rgb16.png").astype(int) - astronaut).max() <= 1


def test_palette_png_with_and_without_transparency(tmp_path, astronaut):
    palette = Image.fromarray(astronaut).quantize(colors=32)
    palette.save(tmp_path / "palette.png")
    rgb = read_image(tmp_path / "palette.png")
    assert rgb.shape == (512, 512, 3) and _psnr(rgb, astronaut) > 20
    transparent_index = int(np.asarray(palette)[0, 0])
    palette.save(tmp_path / "palette_t.png", transparency=transparent_index)
    rgba = read_image_rgba(tmp_path / "palette_t.png")
    assert rgba.shape[2] == 4
    hidden = np.asarray(palette) == transparent_index
    assert (rgba[:, :, 3][hidden] == 0).all() and (read_image(tmp_path / "palette_t.png")[hidden] == 255).all()


def test_float_int_and_cmyk_modes(tmp_path, astronaut):
    red = astronaut[:, :, 0]
    Image.fromarray(red.astype(np.float32) / 255.0, "F").save(tmp_path / "float.tif")
    assert np.abs(read_image(tmp_path / "float.tif")[:, :, 0].astype(int) - red).max() <= 1
    Image.fromarray(red.astype(np.int32), "I").save(tmp_path / "int.tif")
    assert np.array_equal(read_image(tmp_path / "int.tif")[:, :, 0], red)
    Image.fromarray(astronaut).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert _psnr(read_image(tmp_path / "cmyk.jpg"), astronaut) > 28


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "random", "missing", "video", "folder"])
def test_bad_files_raise_one_line_input_error(tmp_path, astronaut, talking_clip, damage):
    write_image(tmp_path / "good.jpg", astronaut)
    data = (tmp_path / "good.jpg").read_bytes()
    path = tmp_path / f"{damage}.jpg"
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbled":
        middle = len(data) // 3
        path.write_bytes(data[:middle] + np.random.default_rng(0).bytes(4000) + data[middle + 4000 :])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(np.random.default_rng(1).bytes(3000))
    elif damage == "video":
        path = talking_clip
    elif damage == "folder":
        path = tmp_path
    with pytest.raises(InputError) as caught:
        read_image(path)
    message = str(caught.value)
    assert "\n" not in message and path.name in message


def test_array_input_is_validated_and_converted(astronaut):
    assert read_image(astronaut) is astronaut  # already RGB uint8 contiguous: no copy
    gray = astronaut[:, :, 1]
    assert np.array_equal(read_image(gray)[:, :, 2], gray)
    assert np.array_equal(read_image(astronaut.astype(np.float32) / 255.0), astronaut)
    assert np.array_equal(read_image(astronaut.astype(np.uint16) * 257), astronaut)
    rgba = np.dstack([astronaut, np.zeros_like(gray)])
    assert (read_image(rgba) == 255).all() and read_image_rgba(rgba).shape[2] == 4
    for bad in (astronaut.astype(np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 5, 3), np.uint8)):
        with pytest.raises(InputError):
            to_rgb_uint8(bad)


@pytest.mark.parametrize("extension, min_psnr", [("png", np.inf), ("bmp", np.inf), ("tiff", np.inf),
                                                 ("jpg", 38), ("jpeg", 38), ("webp", 30)])
def test_write_read_round_trip(tmp_path, astronaut, extension, min_psnr):
    target = write_image(tmp_path / f"out.{extension}", astronaut)
    assert target.is_file() and [p.name for p in tmp_path.iterdir()] == [f"out.{extension}"]
    assert _psnr(read_image(target), astronaut) >= min_psnr


def test_write_keeps_alpha_where_the_format_can(tmp_path, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 77, np.uint8)])
    assert read_image_rgba(write_image(tmp_path / "a.png", rgba))[0, 0, 3] == 77
    assert read_image_rgba(write_image(tmp_path / "a.jpg", rgba)).shape[2] == 3


def test_write_image_bad_path(tmp_path, astronaut):
    with pytest.raises(OutputError):
        write_image(tmp_path / "missing" / "a.png", astronaut)
    with pytest.raises(OutputError):
        write_image(tmp_path / "a.gif", astronaut)
    assert list(tmp_path.iterdir()) == []
