"""Take docs/compose.png: the Compose tab after one Generate with the default settings.

    python app.py &                        # the shipped model (or --checkpoint PATH)
    python docs/screenshot.py [URL] [OUT]  # defaults: http://127.0.0.1:7860/ docs/compose.png

Drives Debian's Chromium (/usr/bin/chromium) with Playwright, as tests/app/test_browser.py does,
and prints how long the click took to show audio and a MIDI download.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent / "compose.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.locator("#generate").wait_for()
        started = time.perf_counter()
        page.locator("#generate").click()
        expect(page.locator("a[download$='.mid']").first).to_be_attached()
        expect(page.locator("audio").first).to_be_attached()
        print(f"first Generate: audio and MIDI after {time.perf_counter() - started:.2f} s")
        page.wait_for_timeout(1000)  # let the waveforms draw
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
