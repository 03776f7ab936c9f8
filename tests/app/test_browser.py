"""The app in a real browser: `python app.py` in a subprocess, Debian's Chromium driven by
Playwright. Generate (with a token and a piano-roll model) and Harmonize must give audio and a
MIDI download; a corrupt primer must give a clear message and leave the page working; Write must
stream text into its box."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
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
SLOW = 60_000  # ms: a busy 2-core machine may take a while for the first page and click

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
    "(apt-get install chromium chromium-driver; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def app_url(
    serve_app,
    music_checkpoint: Path,
    text_checkpoint: Path,
    pianoroll_checkpoint: Path,
    tmp_path_factory,
) -> str:
    """`python app.py` on a free loopback port, offering the tiny test models."""
    folder = tmp_path_factory.mktemp("browser")
    return serve_app(
        folder,
        *("--checkpoint", str(music_checkpoint), "--checkpoint", str(text_checkpoint)),
        *("--checkpoint", str(pianoroll_checkpoint), "--app-dir", str(folder / "app")),
        env={"RNN_GENERATOR_CHECKPOINTS": ""},
    )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    page.locator("#generate").wait_for()
    yield page
    context.close()


def test_generate_gives_audio_and_a_midi_download(page):
    from playwright.sync_api import expect

    page.locator("#generate").click()

    expect(page.locator("audio").first).to_be_attached(timeout=SLOW)
    link = page.locator("a[download$='.mid']").first
    expect(link).to_be_attached(timeout=SLOW)
    expect(page.locator("#status")).to_contain_text("seed")
    midi = page.request.get(link.get_attribute("href"))
    assert midi.ok and midi.body().startswith(b"MThd")
    # the score: an engraved page, drawn (it has a size), and its MusicXML beside the MIDI
    score = page.locator(".score-page img").first
    expect(score).to_be_visible(timeout=SLOW)
    assert score.evaluate("img => img.naturalWidth") > 0 and score.bounding_box()["height"] > 40
    musicxml = page.locator("a[download$='.musicxml']").first
    expect(musicxml).to_be_attached(timeout=SLOW)
    assert b"<score-partwise" in page.request.get(musicxml.get_attribute("href")).body()


def test_corrupt_primer_shows_an_error_and_the_page_keeps_working(page, tmp_path):
    from playwright.sync_api import expect

    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06 this is not really MIDI")

    page.get_by_text("Primer MIDI", exact=True).click()
    page.locator("#primer input[type=file]").set_input_files(str(corrupt))
    expect(page.get_by_text("The primer cannot be used: not a readable MIDI file")).to_be_visible()

    page.locator("#generate").click()  # still "Primer MIDI", and the bad file was removed
    expect(page.locator("#status")).to_contain_text("⚠ Start is 'Primer MIDI' but no primer")

    page.get_by_text("Seed note", exact=True).click()
    page.locator("#generate").click()
    expect(page.locator("a[download$='.mid']").first).to_be_attached(timeout=SLOW)
    expect(page.locator("audio").first).to_be_attached()
    expect(page.locator("#status")).to_contain_text("note D4")


def test_pianoroll_model_hides_what_does_not_apply_and_generates(page):
    from playwright.sync_api import expect

    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name="pianoroll (added, piano roll)").click()
    expect(page.get_by_role("radio", name="Opening chord")).to_be_visible()
    expect(page.get_by_role("combobox", name="Seed note")).to_be_hidden()
    expect(page.get_by_label("Style", exact=True)).to_be_hidden()
    page.locator("#generate").click()

    expect(page.locator("#status")).to_contain_text("opening chord", timeout=SLOW)
    expect(page.locator("a[download$='.mid']").first).to_be_attached(timeout=SLOW)
    expect(page.locator("audio").first).to_be_attached()


def test_write_streams_text_into_the_box(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Write").click()
    page.get_by_placeholder("The text the model continues").fill("the cat ")
    page.locator("#write").click()

    expect(page.locator("#write-status")).to_contain_text("characters · seed", timeout=SLOW)
    written = page.locator("#written textarea").input_value()
    assert written.startswith("the cat ") and len(written) == len("the cat ") + 500


def test_harmonize_the_bundled_example_gives_audio_and_a_midi_download(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Harmonize").click()
    page.locator("#harmonize").click()  # the example picked by default, no upload

    output = page.locator("#harmonized")
    expect(page.locator("#harmonize-status")).to_contain_text("seed", timeout=SLOW)
    expect(output.locator("audio").first).to_be_attached(timeout=SLOW)
    link = output.locator("a[download$='.mid']").first
    expect(link).to_be_attached(timeout=SLOW)
    midi = page.request.get(link.get_attribute("href"))
    assert midi.ok and midi.body().startswith(b"MThd")
    score = output.locator(".score-page img").first
    expect(score).to_be_visible(timeout=SLOW)  # four staves: taller than one
    assert score.evaluate("img => img.naturalWidth") > 0 and score.bounding_box()["height"] > 100


def test_main_buttons_are_in_view_and_results_follow_them_on_a_phone(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    page.locator("#generate").wait_for()
    for tab, button in (("Compose", "#generate"), ("Harmonize", "#harmonize"),
                        ("Write", "#write"), ("Train", "#train")):  # fmt: skip
        page.get_by_role("tab", name=tab).click()
        box = page.locator(button).bounding_box()
        assert box and box["y"] + box["height"] <= 900, (tab, box)
    page.get_by_role("tab", name="Compose").click()
    bars = page.get_by_label("number input for Bars")
    bars.fill("999")
    bars.press("Tab")
    assert bars.input_value() == "64"  # Gradio clamps; the page now says so
    assert page.locator(".clamp-note").all_inner_texts() == [
        "999 is more than 64, the most: 64 is used"
    ]
    context.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    page.locator("#generate").wait_for()
    button, status = (
        page.locator("#generate").bounding_box(),
        page.locator("#status").bounding_box(),
    )
    assert button["y"] + button["height"] <= 844
    assert 0 <= status["y"] - (button["y"] + button["height"]) < 100  # results right below
    phone.close()


def test_a_reload_finds_the_running_training_and_a_second_visitor_is_refused(
    browser, app_url, tmp_path
):
    from playwright.sync_api import expect

    from generator.midi import Note, write_midi

    files = []
    for i in range(3):
        notes = [Note(b * 0.5, 0.5, 60 + (b * (i + 2)) % 12, 80) for b in range(64)]
        files.append(str(write_midi(notes, tmp_path / f"tune{i}.mid")))

    owner = browser.new_context(viewport={"width": 1400, "height": 900})
    page = owner.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-files input[type=file]").set_input_files(files)
    page.locator("#train-name input, #train-name textarea").first.fill("reloaded")
    expect(page.locator("#upload-kind")).to_contain_text("3 MIDI uploads")
    page.locator("#train").click()
    expect(page.locator("#train-status")).to_contain_text("Training… step ", timeout=2 * SLOW)
    expect(page.locator("#train-status")).to_contain_text("s per step")  # the trainer's probe

    page.reload()  # the job goes on; the page finds it again
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text("Training…", timeout=SLOW)
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#train")).to_be_disabled()

    other = browser.new_context(viewport={"width": 1400, "height": 900})
    second = other.new_page()
    second.set_default_timeout(SLOW)
    second.goto(app_url)
    second.get_by_role("tab", name="Train").click()
    expect(second.locator("#train-status")).to_contain_text("Another visitor's model is training")
    second.locator("#train-files input[type=file]").set_input_files(files[:1])
    second.locator("#train").click()
    expect(second.locator("#train-status")).to_contain_text("⚠ Another visitor's training")

    page.locator("#stop").click()
    expect(page.locator("#train-status")).to_contain_text("Saved reloaded", timeout=2 * SLOW)
    expect(page.locator("#train")).to_be_enabled()
    page.get_by_role("tab", name="Compose").click()
    page.get_by_label("Model", exact=True).click()
    expect(page.get_by_role("option", name="reloaded (yours)")).to_be_visible()

    second.reload()  # the other visitor never sees it
    second.get_by_label("Model", exact=True).click()
    expect(second.get_by_role("option", name="music (added)")).to_be_visible()
    assert second.get_by_role("option", name="reloaded (yours)").count() == 0
    owner.close()
    other.close()


def test_train_tab_music_rules_leave_out_files_and_hide_for_text(page, tmp_path):
    from playwright.sync_api import expect

    from generator.midi import Note, write_midi

    files = [
        str(write_midi([Note(b * 0.5, 0.5, 60 + b % 5, 80) for b in range(16)], tmp_path / n))
        for n in ("jig.mid", "reel.mid")
    ]
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-size")).to_contain_text("tokens/s")  # sizes with their cost
    page.locator("#train-files input[type=file]").set_input_files(files)
    expect(page.locator("#upload-kind")).to_contain_text("2 MIDI uploads")
    page.get_by_text("Music: styles, files to leave out, versions").click()
    expect(page.locator("#train-group input")).to_be_checked()
    page.locator("#train-exclude input, #train-exclude textarea").first.fill("*")
    page.locator("#train").click()
    expect(page.locator("#train-status")).to_contain_text(
        "⚠ The files to leave out (*) are every uploaded MIDI file (2)"
    )
    expect(page.locator("#train")).to_be_enabled()  # nothing started: the page can train

    text = tmp_path / "story.txt"
    text.write_text("once upon a time " * 20, encoding="utf-8")
    page.locator("#train-files input[type=file]").set_input_files([str(text)])  # added
    expect(page.locator("#upload-kind")).to_contain_text("These uploads mix music and text")
    expect(page.locator("#music-rules")).to_be_visible()
    page.get_by_label("Text", exact=True).check()
    expect(page.locator("#upload-kind")).to_contain_text("1 text upload")
    expect(page.locator("#music-rules")).to_be_hidden()  # text has no styles or versions
