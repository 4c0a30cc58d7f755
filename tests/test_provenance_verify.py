"""``headshot verify``: exit codes and reports on marked, re-encoded, unmarked and broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from headshot.cli import main as cli_main
from headshot.provenance import attacks
from headshot.provenance.credentials import sign_file
from headshot.provenance.label import burn_label
from headshot.provenance.verify import VerifyError, verify_file
from headshot.provenance.watermark import Payload, Watermarker



def main(argv: list[str]) -> int:
    """Run the CLI like the shell does and return its exit code."""
    try:
        return cli_main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


CLIP = "mead_W036__spectre__W036_level_3_happy_007.mp4"


@pytest.fixture(scope="module")
def signed_output(dev_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("verify")
    marker = Watermarker(Payload("abc12345"))
    frames = [marker.mark(frame) for frame in attacks.read_frames(dev_data / "videos" / CLIP, 30)]
    path = attacks.write_h264(workdir / "output.mp4", frames)
    sign_file(path, source_path=dev_data / "videos" / CLIP, settings={"engine": "warp"}, watermarked=True,
              key_dir=workdir / "keys")
    return path


def test_marked_output_exit_0_with_both_marks(signed_output, capsys):
    assert main(["verify", str(signed_output)]) == 0
    out = capsys.readouterr().out
    assert "watermark: FOUND" in out and "abc12345" in out
    assert "content credentials: present, signature valid" in out
    assert main(["verify", "--json", str(signed_output)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["marked"] and report["manifest"]["by_headshot"]
    assert report["watermark"]["payload"]["run_id"] == "abc12345"


def test_reencoded_copy_keeps_watermark_loses_manifest(signed_output, tmp_path, capsys):
    copy = attacks.write_h264(tmp_path / "copy.mp4", attacks.read_frames(signed_output), crf=28)
    assert main(["verify", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "watermark: FOUND" in out and "content credentials: none (removed" in out


def test_marked_image_and_unmarked_media(astronaut, tmp_path, dev_data, capsys):
    image = tmp_path / "frame.png"
    Image.fromarray(burn_label(Watermarker(Payload("00ff00")).mark(astronaut))).save(image)
    report = verify_file(image)
    assert report.kind == "image" and report.exit_code == 0 and report.watermark.payload == Payload("00ff00")
    assert main(["verify", str(dev_data / "videos" / CLIP)]) == 1
    portrait = sorted((dev_data / "portraits").glob("*.jpg"))[0]
    assert main(["verify", str(portrait)]) == 1
    assert "no headshot marks found" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8, b"not a video"])
def test_broken_files_exit_2_with_one_line(tmp_path, content, capsys):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VerifyError):
        verify_file(path)
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("headshot: error: broken.mp4") and "\n" not in err
    assert main(["verify", str(tmp_path / "missing.png")]) == 2


def test_burn_label_touches_only_a_corner(astronaut):
    labelled = burn_label(astronaut)
    changed = np.argwhere(np.any(labelled != astronaut, axis=2))
    assert changed.size > 0
    assert changed[:, 0].min() > astronaut.shape[0] * 0.85 and changed[:, 1].min() > astronaut.shape[1] * 0.6
