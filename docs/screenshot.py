"""Take the README's screenshots: docs/compose.png (the Compose tab after one Generate with the
default settings) or docs/train.png (the Train tab after training a text model).

    python app.py &                                  # the shipped models
    python docs/screenshot.py [URL] [OUT]            # http://127.0.0.1:7860/, docs/compose.png
    python docs/screenshot.py [URL [OUT]] --train README.md docs/seq2seq.md    # docs/train.png

Drives Debian's Chromium (/usr/bin/chromium) with Playwright, as tests/app/test_browser.py does,
and prints how long the click took: to show audio and a MIDI download, or to train and save.
"""

from __future__ import annotations

import argparse
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
DOCS = Path(__file__).parent


def compose(page) -> None:
    """One Generate with the page's defaults."""
    started = time.perf_counter()
    page.locator("#generate").click()
    expect(page.locator("a[download$='.mid']").first).to_be_attached()
    expect(page.locator("audio").first).to_be_attached()
    print(f"first Generate: audio and MIDI after {time.perf_counter() - started:.2f} s")


def train(page, files: list[str]) -> None:
    """Upload text files and train the default (tiny) model until it is saved."""
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-files input[type=file]").set_input_files(files)
    expect(page.locator("#upload-kind")).to_contain_text("trains a")
    page.locator("#train-name textarea").fill("readme")
    started = time.perf_counter()
    page.locator("#train").click()
    expect(page.locator("#train-status")).to_contain_text("Saved", timeout=600_000)
    print(f"Train: saved after {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:7860/")
    parser.add_argument("out", nargs="?", type=Path, default=None, help="the PNG to write")
    parser.add_argument("--train", nargs="+", metavar="FILE", help="text or MIDI files to train")
    args = parser.parse_args()
    out = args.out or DOCS / ("train.png" if args.train else "compose.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(args.url)
        page.locator("#generate").wait_for()
        if args.train:
            train(page, [str(Path(f).resolve()) for f in args.train])
        else:
            compose(page)
        page.wait_for_timeout(1500)  # let the waveforms and the loss curve draw
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
