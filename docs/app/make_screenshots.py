"""Screenshots of the web app's four tabs for docs/app/*.png, with the bundled astronaut only.

Starts the app, drives it in headless Chromium (Debian's, as the browser tests do) and clicks the
astronaut examples; the Live tab's fake camera plays the astronaut animated by a built-in motion (written
to a temporary .y4m), so no dev-data face appears in the pictures. The PNGs are scaled down and
palette-reduced to stay small.

    python docs/app/make_screenshots.py [--out docs/app]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

WIDTH = 1100  # viewport; the PNGs are scaled to SCALE of it
SCALE = 0.6


def save_small(png: bytes, path: Path) -> None:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((int(image.width * SCALE), int(image.height * SCALE)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "app")
    args = parser.parse_args()
    from browser_helpers import chromium_path, fake_camera_args, open_tab, upload, write_y4m
    from playwright.sync_api import sync_playwright

    import headshot
    from headshot.app.server import start_app
    from headshot.assets import astronaut

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="headshot-shots-") as folder:
        folder = Path(folder)
        camera = [frame for frame in headshot.animate(astronaut(), motion="talk", seconds=4, crop_only=True,
                                                       size=256, watermark=False)]
        y4m = write_y4m(camera + camera[::-1], folder / "camera.y4m")
        marked = folder / "astronaut_nod.mp4"
        headshot.animate_to_file(astronaut(), None, marked, motion="nod", seconds=2, crop_only=True, size=256)
        app = start_app(port=7890)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(), args=fake_camera_args(y4m))
                page = browser.new_context(viewport={"width": WIDTH, "height": 900},
                                           permissions=["camera"]).new_page()
                page.goto(app.url)
                page.wait_for_selector("#animate-run", timeout=60_000)

                page.locator("#animate-examples tr.tr-body").first.click()  # astronaut, talk
                page.wait_for_function("() => { const v = document.querySelector('#animate-video video');"
                                       " return v && v.readyState >= 2; }", timeout=300_000)
                save_small(page.screenshot(full_page=True), args.out / "animate.png")

                open_tab(page, "Say")
                page.get_by_text("Hello! I am speaking from a single photo").first.click()
                page.wait_for_function("() => { const v = document.querySelector('#say-video video');"
                                       " return v && v.readyState >= 2; }", timeout=300_000)
                save_small(page.screenshot(full_page=True), args.out / "say.png")

                open_tab(page, "Live")
                page.get_by_text("Click to Access Webcam").click()
                page.locator("#live-webcam .button-wrap button").first.click()
                page.wait_for_function("() => document.querySelector('#live-stats textarea').value.includes('fps')",
                                       timeout=120_000)
                page.wait_for_timeout(3000)
                save_small(page.screenshot(full_page=True), args.out / "live.png")
                page.locator("#live-webcam .button-wrap button").first.click()  # stop

                open_tab(page, "Verify")
                upload(page, "verify-file", marked)
                page.wait_for_timeout(800)
                page.click("#verify-run")
                page.wait_for_function("() => document.querySelector('#verify-verdict textarea').value.length > 0",
                                       timeout=120_000)
                save_small(page.screenshot(full_page=True), args.out / "verify.png")
                browser.close()
        finally:
            app.close()


if __name__ == "__main__":
    main()
