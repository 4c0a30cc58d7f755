"""Outputs never destroy inputs, never appear half-made, and always carry their own run's credentials.

Every case runs the real CLI (in-process like tests/test_cli_animate.py, or as a subprocess where a
signal or a second process is involved) on the bundled astronaut or the dev clips and portraits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from headshot import api
from cli_run import run_cli_err as run
from headshot.errors import OutputError
from headshot.io.atomic import refuse_overwriting_inputs
from headshot.io.images import write_image

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    """Every name in ``folder`` (hidden ones included), sorted."""
    return sorted(os.listdir(folder))


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture()
def keys(tmp_path, monkeypatch) -> Path:
    """A private signing-key folder for the run (never the user's ~/.config/headshot)."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("HEADSHOT_KEY_DIR", str(folder))
    return folder


@pytest.fixture()
def photo(tmp_path, astronaut) -> Path:
    path = tmp_path / "work" / "astronaut.png"
    path.parent.mkdir()
    write_image(path, astronaut)
    return path


def subprocess_env(tmp_path: Path, **extra: str | None) -> dict:
    """This process's environment with the key folder in ``tmp_path``; ``extra`` sets (None: removes) variables."""
    env = dict(os.environ, HEADSHOT_KEY_DIR=str(tmp_path / "keys"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return {name: value for name, value in env.items() if value is not None}


# ----------------------------------------------------------------------------- the output is an input


def test_helper_sees_every_spelling_of_an_input(tmp_path, astronaut):
    folder = tmp_path / "w"
    (folder / "sub").mkdir(parents=True)
    source = folder / "p.png"
    write_image(source, astronaut)
    os.symlink(source, folder / "alias.png")
    os.link(source, folder / "hard.png")
    same = [source, folder / "sub" / ".." / "p.png", folder / "alias.png", folder / "hard.png"]
    for output in same:
        with pytest.raises(OutputError, match="refusing to write .*: it is the input file"):
            refuse_overwriting_inputs(output, [source])
    # the other way round: the input is a link to where the output goes
    with pytest.raises(OutputError, match="it is the input file"):
        refuse_overwriting_inputs(source, [folder / "alias.png"])
    # a run folder inside a data folder would mix results into the data
    with pytest.raises(OutputError, match="is inside the input folder"):
        refuse_overwriting_inputs(folder / "sub" / "run", [folder])
    # other paths, and inputs that are not paths, pass
    refuse_overwriting_inputs(folder / "sub" / "p.png", [source, None, astronaut])
    refuse_overwriting_inputs(folder / "out.mp4", [source, folder / "alias.png"])


@pytest.mark.parametrize("spelling", ["dotdot", "symlink", "hardlink"])
def test_animate_refuses_to_overwrite_its_photo(tmp_path, capsys, dev_data, spelling):
    folder = tmp_path / "w"
    (folder / "x").mkdir(parents=True)
    photo = folder / "p.jpg"
    shutil.copyfile(dev_data / PORTRAIT, photo)
    before = digest(photo)
    if spelling == "dotdot":
        output = folder / "x" / ".." / "p.jpg"
    elif spelling == "symlink":
        output = folder / "result.jpg"
        os.symlink(photo, output)
    else:
        output = folder / "result.jpg"
        os.link(photo, output)
    names = listing(folder)
    code, err = run(capsys, "animate", photo, "--driver", photo, "-o", output, "-q")
    assert code == 1
    assert err.count("\n") == 1 and "refusing to write" in err and "Traceback" not in err
    assert digest(photo) == before and listing(folder) == names


def test_animate_refuses_to_overwrite_its_driver_video(tmp_path, capsys, photo, talking_clip):
    driver = photo.parent / "d.mp4"
    shutil.copyfile(talking_clip, driver)
    before, names = digest(driver), listing(photo.parent)
    started = time.perf_counter()
    code, err = run(capsys, "animate", photo, "--driver", driver, "-o", photo.parent / "." / "d.mp4",
                    "--max-frames", 20, "-q")
    assert code == 1 and "refusing to write" in err and "d.mp4" in err
    assert time.perf_counter() - started < 5  # refused before any face detection or encoding
    assert digest(driver) == before and listing(photo.parent) == names


def test_python_api_refuses_too(tmp_path, photo, talking_clip):
    before = digest(photo)
    with pytest.raises(OutputError, match="refusing"):
        api.animate_to_file(photo, photo, photo.parent / ".." / photo.parent.name / photo.name)
    assert digest(photo) == before
    # a template written over the video it is extracted from (a .motion name pointing at the clip)
    driver = tmp_path / "clip.motion"
    os.symlink(talking_clip, driver)
    with pytest.raises(OutputError, match="refusing"):
        api.extract_motion(driver, tmp_path / "clip.motion", max_frames=5)
    assert os.path.islink(driver) and digest(driver) == digest(talking_clip)


def test_extract_motion_cli_refuses_its_driver(tmp_path, capsys, talking_clip):
    driver = tmp_path / "talk.motion"
    shutil.copyfile(talking_clip, driver)
    before = digest(driver)
    code, err = run(capsys, "extract-motion", driver, "-o", tmp_path / "." / "talk.motion", "--max-frames", 5)
    assert code == 1 and "refusing to write" in err
    assert digest(driver) == before and listing(tmp_path) == ["talk.motion"]


def test_finetune_refuses_to_overwrite_its_model_or_shots(tmp_path, capsys, dev_data):
    from headshot.neural.engine import default_model_path

    shot = tmp_path / "shot.jpg"
    shutil.copyfile(dev_data / PORTRAIT, shot)
    model_link = tmp_path / "base.safetensors"
    os.symlink(default_model_path(), model_link)
    model_before = digest(default_model_path())
    code, err = run(capsys, "finetune", "--shots", shot, "--model", default_model_path(), "-o", model_link,
                    "--steps", 1)
    assert code == 1 and "refusing to write" in err and "base.safetensors" in err
    assert digest(default_model_path()) == model_before and os.path.islink(model_link)
    # a person file written over one of the shots (a hard link of it)
    os.link(shot, tmp_path / "person.safetensors")
    shot_before = digest(shot)
    code, err = run(capsys, "finetune", "--shots", shot, "-o", tmp_path / "person.safetensors", "--steps", 1)
    assert code == 1 and "refusing to write" in err and "shot.jpg" in err
    assert digest(shot) == shot_before


def test_eval_refuses_a_run_folder_in_its_data(tmp_path, capsys, talking_clip):
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    os.symlink(talking_clip, data / "videos" / talking_clip.name)
    (data / "results.md").write_text("my own notes\n")
    for out in (data, data / "videos" / ".." , data / "runs" / "eval"):
        code, err = run(capsys, "eval", "--data", data, "--out", out, "--max-videos", 1, "--protocol", "self")
        assert code == 1 and "refusing to write" in err, err
    assert listing(data) == ["results.md", "videos"] and (data / "results.md").read_text() == "my own notes\n"
    # a weights file where the run writes its results
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_bytes(b"weights")
    code, err = run(capsys, "eval", "--data", data, "--out", run_dir, "--lpips-weights", run_dir / "results.json",
                    "--protocol", "self")
    assert code == 1 and "refusing to write" in err
    assert (run_dir / "results.json").read_bytes() == b"weights"


# ----------------------------------------------------------------------------- containers, credentials


def test_mkv_is_refused_up_front_unless_credentials_are_off(tmp_path, capsys, photo, keys):
    output = tmp_path / "out.mkv"
    started = time.perf_counter()
    code, err = run(capsys, "animate", photo, "--motion", "talk", "--seconds", 1, "-o", output, "-q")
    assert code == 1 and ".mkv" in err and ".mp4" in err and "--no-credentials" in err
    assert time.perf_counter() - started < 5 and not output.exists() and not keys.exists()
    code, err = run(capsys, "animate", photo, "--motion", "talk", "--seconds", 1, "-o", output, "-q",
                    "--no-credentials")
    assert code == 0, err
    assert frame_count(output) == 25 and listing(tmp_path) == sorted(["out.mkv", "work"])


def test_credentials_failure_leaves_nothing_and_keeps_the_earlier_file(tmp_path, capsys, photo, keys):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"the user's earlier video")
    keys.mkdir()
    (keys / "signer.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49Ag")  # truncated
    (keys / "signer-chain.pem").write_bytes(b"")
    code, err = run(capsys, "animate", photo, "--motion", "talk", "--seconds", 1, "-o", output, "-q")
    assert code == 1 and err.count("\n") == 1
    assert "signer.key" in err and "delete" in err and "HEADSHOT_KEY_DIR" in err
    assert output.read_bytes() == b"the user's earlier video"
    assert listing(tmp_path) == sorted(["keys", "out.mp4", "work"])


def test_unexpected_signing_error_fails_the_run_and_leaves_nothing(tmp_path, capsys, photo, keys, monkeypatch):
    import headshot.provenance.credentials as credentials

    def broken(*_args, **_kwargs):
        raise RuntimeError("c2pa library crashed\nsecond line")

    monkeypatch.setattr(credentials, "sign_file", broken)
    output = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", photo, "--motion", "talk", "--seconds", 1, "-o", output, "-q")
    assert code == 1 and err.count("\n") == 1
    assert "could not add content credentials to out.mp4 (c2pa library crashed)" in err
    assert listing(tmp_path) == ["keys", "work"]


def test_signed_output_is_signed_under_its_final_name(tmp_path, capsys, photo, keys):
    from headshot.provenance.verify import verify_file

    output = tmp_path / "talk.mp4"
    code, err = run(capsys, "animate", photo, "--motion", "talk", "--seconds", 1, "-o", output, "-q")
    assert code == 0, err
    report = verify_file(output)
    assert report.manifest is not None and report.manifest.valid and report.manifest.by_headshot
    assert report.watermark.payload is not None
    assert report.watermark.payload.run_id == report.manifest.settings["run_id"]
    assert listing(tmp_path) == sorted(["keys", "talk.mp4", "work"])


# ----------------------------------------------------------------------------- processes


def animate_process(tmp_path: Path, photo: Path, output: Path, seconds: int, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "headshot.cli", "animate", str(photo), "--motion", "talk", "--seconds", str(seconds),
         "-o", str(output), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(tmp_path, **env))


def test_sigterm_stops_a_run_and_leaves_no_partial_file(tmp_path, photo):
    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / "long.mp4"
    output.write_bytes(b"earlier result")
    process = animate_process(tmp_path, photo, output, seconds=20)
    try:
        deadline = time.monotonic() + 120
        # wait until the encoder has written into its hidden temporary file
        while time.monotonic() < deadline and process.poll() is None:
            partial = [p for p in folder.iterdir() if p.name.startswith(".") and p.stat().st_size > 0]
            if partial:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be stopped"
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert listing(folder) == ["long.mp4"] and output.read_bytes() == b"earlier result"


def test_two_runs_on_one_output_keep_their_own_credentials(tmp_path, photo):
    from headshot.provenance.verify import verify_file

    output = tmp_path / "same.mp4"
    processes = [animate_process(tmp_path, photo, output, seconds=2) for _ in range(2)]
    results = [process.communicate(timeout=240) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in results]
    report = verify_file(output)
    assert report.manifest is not None and report.manifest.valid
    # the credentials describe the video they are attached to: the watermark's run id is theirs
    assert report.watermark.payload is not None
    assert report.watermark.payload.run_id == report.manifest.settings["run_id"]
    assert report.manifest.source_sha256 == digest(photo)
    assert listing(tmp_path) == sorted(["keys", "same.mp4", "work"])


def test_no_writes_outside_the_output_and_key_folder(tmp_path, photo):
    home = tmp_path / "home"
    home.mkdir()
    env_clean = {"HOME": str(home), "XDG_CACHE_HOME": None, "XDG_CONFIG_HOME": None, "MPLCONFIGDIR": None}
    output = tmp_path / "out" / "talk.mp4"
    output.parent.mkdir()
    process = animate_process(tmp_path, photo, output, seconds=1, **env_clean)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    assert listing(home) == []  # no ~/.cache/matplotlib, no ~/.config
    assert listing(output.parent) == ["talk.mp4"]
    assert sorted(p for p in listing(tmp_path / "keys") if not p.startswith(".")) == ["signer-chain.pem",
                                                                                        "signer.key"]
    # a user's own MPLCONFIGDIR is respected, not replaced
    mpl = tmp_path / "mpl"
    process = animate_process(tmp_path, photo, output, seconds=1, **{**env_clean, "MPLCONFIGDIR": str(mpl)})
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    assert any(name.startswith("fontlist") for name in listing(mpl)) and listing(home) == []
