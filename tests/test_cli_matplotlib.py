"""The CLI gives matplotlib a kept cache folder (its font cache is built once), or a private temporary one."""
import os
import stat

from headshot import cli


def test_matplotlib_folder_is_kept_under_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delitem(cli.sys.modules, "matplotlib", raising=False)
    with cli._private_matplotlib_dir():
        folder = os.environ["MPLCONFIGDIR"]
        assert folder == str(tmp_path / "headshot" / "matplotlib")
    assert "MPLCONFIGDIR" not in os.environ
    assert os.path.isdir(folder)  # kept for the next run
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_unwritable_cache_falls_back_to_a_removed_temporary_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.delitem(cli.sys.modules, "matplotlib", raising=False)
    with cli._private_matplotlib_dir():
        folder = os.environ["MPLCONFIGDIR"]
        assert "headshot-matplotlib-" in folder and os.path.isdir(folder)
    assert not os.path.exists(folder)
