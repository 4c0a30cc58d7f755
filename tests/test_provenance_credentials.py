"""C2PA content credentials: signed offline with a local identity, validated by c2pa-python's Reader."""

from __future__ import annotations

import json
import stat

import c2pa
import numpy as np
import pytest
from PIL import Image

from headshot.provenance import attacks
from headshot.provenance.credentials import DIGITAL_SOURCE_TYPE, read_manifest, sign_file

CLIP = "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"


@pytest.fixture()
def output_video(dev_data, tmp_path):
    return attacks.write_h264(tmp_path / "out.mp4", attacks.read_frames(dev_data / "videos" / CLIP, 12))


def test_sign_video_and_validate_with_c2pa_reader(output_video, dev_data, tmp_path, astronaut):
    keys = tmp_path / "keys"
    output_video.chmod(0o644)
    source = tmp_path / "source.png"
    Image.fromarray(astronaut).save(source)
    driver = dev_data / "videos" / CLIP
    sign_file(output_video, source_path=source, driver_path=driver, settings={"engine": "warp"},
              watermarked=True, key_dir=keys)
    for name in ("signer.key", "signer-chain.pem"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
    assert not (keys / "ca.key").exists()  # the CA's private key is dropped once it has signed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp file left
    assert stat.S_IMODE(output_video.stat().st_mode) == 0o644  # the output keeps its permissions

    with c2pa.Reader(str(output_video)) as reader:
        store = json.loads(reader.json())
        assert reader.get_validation_state() in ("Valid", "Trusted")
    failures = store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    assert {f["code"] for f in failures} <= {"signingCredential.untrusted"}

    report = read_manifest(output_video)
    assert report.valid and report.by_headshot and report.watermarked is True
    assert report.digital_source_type == DIGITAL_SOURCE_TYPE
    import hashlib

    assert report.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert report.driver_sha256 == hashlib.sha256(driver.read_bytes()).hexdigest()
    assert report.settings == {"engine": "warp"}
    assert attacks.read_frames(output_video)[0].shape == (512, 512, 3)  # still a playable video


def test_no_watermark_is_recorded_and_images_are_signed(tmp_path, astronaut):
    image = tmp_path / "out.jpg"
    Image.fromarray(astronaut).save(image, quality=90)
    sign_file(image, settings={"preset": "talk"}, watermarked=False, key_dir=tmp_path / "keys")
    report = read_manifest(image)
    assert report.valid and report.watermarked is False and report.source_sha256 is None
    assert np.asarray(Image.open(image)).shape == astronaut.shape


def test_tampered_file_is_invalid_and_plain_file_has_none(output_video, tmp_path, dev_data):
    sign_file(output_video, settings={}, watermarked=True, key_dir=tmp_path / "keys")
    data = bytearray(output_video.read_bytes())
    data[-2000] ^= 0xFF  # flip bits in the media data
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = read_manifest(tampered)
    assert report is not None and not report.valid
    assert read_manifest(dev_data / "videos" / CLIP) is None
