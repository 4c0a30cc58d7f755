"""The web app in a real browser: headless Chromium (Debian's) driven by Playwright for Python.

A user uploads a dev portrait and a driver clip, runs it, and the result video plays and carries marks; the
Live tab, fed by Chromium's fake camera playing a dev clip, returns animated frames; a wrong-type and an
oversize upload get a clear message; the page asks nothing of the internet. Skipped (with the reason) only
where Chromium cannot start.
"""

from __future__ import annotations

import base64
import io
import socket
import time

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the web app's extra is not installed: pip install -e '.[test]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")

from browser_helpers import chromium_path, fake_camera_args, open_tab, toast_text, upload, write_y4m  # noqa: E402

from headshot.app.server import start_app  # noqa: E402
from headshot.app.uploads import UploadLimits  # noqa: E402
from headshot.io.video import VideoReader, VideoWriter  # noqa: E402
from headshot.provenance.verify import verify_file  # noqa: E402

pytestmark = pytest.mark.slow
PORTRAIT = "portraits/obama__face_recognition__obama.jpg"
LIMIT_BYTES = 3_000_000  # small, so that the oversize test uploads a small file


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory, talking_clip):
    """A 2 s driver clip and the fake camera's y4m, both cut from a dev clip into a temporary folder."""
    folder = tmp_path_factory.mktemp("app-media")
    with VideoReader(talking_clip, max_frames=75) as reader:
        frames = [frame.rgb for frame in reader]
    driver = folder / "driver.mp4"
    with VideoWriter(driver, fps=25, size=(frames[0].shape[1], frames[0].shape[0])) as writer:
        for rgb in frames[:50]:
            writer.write(rgb)
    small = [rgb[::2, ::2] for rgb in frames]  # 256 x 256: a light camera
    return {"driver": driver, "y4m": write_y4m(small + small[::-1], folder / "camera.y4m"), "folder": folder}


@pytest.fixture(scope="module")
def app():
    running = start_app(port=free_port(), limits=UploadLimits(max_bytes=LIMIT_BYTES))
    yield running
    running.close()
    assert not running.workspace.root.exists()  # uploads and results are gone with the app


@pytest.fixture(scope="module")
def browser(media):
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable, args=fake_camera_args(media["y4m"]))
        except Exception as error:  # pragma: no cover - only where the browser cannot run at all
            pytest.skip(f"Chromium cannot start here: {str(error).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, app):
    context = browser.new_context(viewport={"width": 1200, "height": 1000}, permissions=["camera"])
    page = context.new_page()
    page.outside = []  # requests that leave the app's own address
    origin = app.url.rstrip("/")
    page.on("request", lambda request: None if request.url.startswith((origin, "data:", "blob:"))
            else page.outside.append(request.url))
    page.goto(app.url)
    page.wait_for_selector("#animate-run", timeout=60_000)
    yield page
    context.close()


def test_animate_a_dev_portrait_the_video_plays_and_is_marked(page, app, dev_data, media, tmp_path):
    upload(page, "animate-photos", dev_data / PORTRAIT)
    upload(page, "animate-driver", media["driver"])
    page.wait_for_timeout(500)
    page.click("#animate-run")
    video = page.locator("#animate-video video")
    video.wait_for(timeout=240_000)
    state = page.wait_for_function(
        """() => { const v = document.querySelector('#animate-video video');
                   return v && v.readyState >= 2 && v.duration > 0 ? {ready: v.readyState, duration: v.duration}
                                                                     : null; }""", timeout=60_000).json_value()
    assert state["ready"] >= 2 and abs(state["duration"] - 2.0) < 0.3
    played = page.evaluate("""async () => { const v = document.querySelector('#animate-video video');
                                            v.muted = true; await v.play();
                                            await new Promise(r => setTimeout(r, 700)); v.pause();
                                            return v.currentTime; }""")
    assert played > 0.2  # it really plays
    assert "marked" in page.locator("#animate-status textarea").input_value()
    # the download link gives the file; headshot's verify finds both marks
    link = page.locator("#animate-files a[download], #animate-files a[href]").first
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    downloaded = tmp_path / "result.mp4"
    downloaded.write_bytes(response.body())
    report = verify_file(downloaded)
    assert report.watermark.found and report.manifest is not None and report.manifest.valid
    assert report.manifest.by_headshot
    assert page.outside == []  # nothing fetched from the internet (fonts, analytics, scripts)

    # the Verify tab says the same of the downloaded file, and "no marks" of the dev portrait
    open_tab(page, "Verify")
    upload(page, "verify-file", downloaded)
    page.wait_for_timeout(500)
    page.click("#verify-run")
    verdict = page.locator("#verify-verdict textarea")
    page.wait_for_function("() => document.querySelector('#verify-verdict textarea').value.length > 0",
                           timeout=120_000)
    assert verdict.input_value().startswith("MARKED")


def test_live_tab_with_a_fake_camera_returns_animated_frames(page):
    open_tab(page, "Live")
    page.get_by_text("Click to Access Webcam").click()
    record = page.locator("#live-webcam button[aria-label*='ecord'], #live-webcam button.record-button, "
                          "#live-webcam .button-wrap button").first
    record.wait_for(timeout=30_000)
    record.click()
    images, started = [], time.time()
    while time.time() - started < 90 and len(images) < 6:
        src = page.locator("#live-portrait img").first.get_attribute("src", timeout=90_000) \
            if page.locator("#live-portrait img").count() else None
        if src and (not images or src != images[-1]):
            images.append(src)
        page.wait_for_timeout(400)
    assert len(images) >= 4, "the live portrait did not update"
    frames = [_fetch_image(page, src) for src in images[-4:]]
    assert frames[0].shape[:2] == (512, 512)
    assert max(np.abs(f.astype(int) - frames[0]).mean() for f in frames[1:]) > 0.5  # it moves
    stats = page.locator("#live-stats textarea").input_value()
    assert "fps" in stats and "latency" in stats


def _fetch_image(page, src: str) -> np.ndarray:
    from PIL import Image

    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_wrong_type_upload_gets_a_clear_message(page, tmp_path):
    fake = tmp_path / "portrait.png"
    fake.write_text("this is not a picture, whatever its name says\n" * 20)
    upload(page, "animate-photos", fake)
    page.wait_for_timeout(500)
    page.click("#animate-run")  # the photo is checked first, before the driver
    message = toast_text(page)
    assert "not an image" in message and "content" in message


def test_oversize_upload_gets_a_clear_message(page, tmp_path):
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8\xff" + bytes(LIMIT_BYTES + 1000))
    upload(page, "animate-photos", big)
    message = toast_text(page, timeout_ms=30_000)
    assert "exceed the maximum allowed size" in message and "huge.jpg" in message


def test_one_click_examples_animate_and_speak_the_astronaut(page, tmp_path):
    page.locator("#animate-examples tr.tr-body").nth(1).click()  # astronaut, nod: runs on click
    page.wait_for_function("() => { const v = document.querySelector('#animate-video video');"
                           " return v && v.readyState >= 2 && v.duration > 3; }", timeout=240_000)
    assert "marked" in page.locator("#animate-status textarea").input_value()

    open_tab(page, "Say")
    page.get_by_text("Hello! I am speaking from a single photo").first.click()
    page.wait_for_function("() => { const v = document.querySelector('#say-video video');"
                           " return v && v.readyState >= 2 && v.duration > 2; }", timeout=240_000)
    status = page.locator("#say-status textarea").input_value()
    assert "speech, voice joe" in status and "marked" in status
    src = page.locator("#say-video video").get_attribute("src")
    spoken = tmp_path / "say.mp4"
    spoken.write_bytes(page.request.get(src).body())
    report = verify_file(spoken)
    assert report.marked and report.manifest.valid
    assert report.manifest.settings["speech"]["voice"] == "joe"  # recorded as headshot say records it
    assert page.outside == []
