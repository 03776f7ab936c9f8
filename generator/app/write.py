"""Write: continue a prime with a text model, streaming the text into the page as it comes."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from generator.app.models import resolve_model
from generator.app.settings import AppError, AppSettings, UserErrors, parse_seed
from generator.loader import load_cached
from generator.sampling import SamplingOptions
from generator.sampling.text import generate_text
from generator.validation import check_range

MAX_UI_CHARACTERS = 5_000  # one request's new text
MAX_PRIME_CHARACTERS = 20_000
STREAM_EVERY_SECONDS = 0.1  # at most this often the page gets an update


class _Cancelled(Exception):
    """The page went away: stop sampling."""


def write_text(
    settings: AppSettings,
    model_key: str,
    prime: str = "",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 0.95,
    seed: str | int | None = None,
) -> Iterator[tuple[str, str]]:
    """Yield (prime + text so far, status) while the model writes ``length`` new characters."""
    prime = prime or ""
    if len(prime) > MAX_PRIME_CHARACTERS:
        raise AppError(f"The prime is too long: at most {MAX_PRIME_CHARACTERS:,} characters.")
    with UserErrors("Invalid setting"):
        length = check_range("length", length, 1, MAX_UI_CHARACTERS, integer=True)
        options = SamplingOptions(temperature, top_k or 0, top_p, seed=parse_seed(seed))
    path = resolve_model(settings, model_key, "text")
    with UserErrors("Cannot load the model"):
        loaded = load_cached(path)

    pieces: queue.Queue[str] = queue.Queue()
    cancel = threading.Event()
    outcome: dict = {}

    def on_text(row: int, text: str) -> None:
        if cancel.is_set():
            raise _Cancelled
        pieces.put(text)

    def run() -> None:
        try:
            outcome["result"] = generate_text(
                loaded, prime, length, "characters", options, 1, on_text=on_text
            )
        except _Cancelled:
            pass
        except Exception as error:  # shown to the user below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="write-text", daemon=True)
    worker.start()
    text, shown_at = "", 0.0
    try:
        while worker.is_alive() or not pieces.empty():
            try:
                text += pieces.get(timeout=STREAM_EVERY_SECONDS)
            except queue.Empty:
                continue
            if time.monotonic() - shown_at >= STREAM_EVERY_SECONDS:
                shown_at = time.monotonic()
                yield prime + text, "Writing…"
        worker.join()
        if "error" in outcome:
            message = str(outcome["error"])
            if isinstance(outcome["error"], ValueError):
                raise AppError(f"Invalid setting: {message}")
            raise AppError(f"Writing failed: {message}")
        result = outcome["result"]
        status = (
            f"{len(result.texts[0])} characters · seed {options.seed} (enter it to get the "
            f"same text again) · {result.sampling_seconds:.1f} s"
        )
        if result.dropped:
            status += f" · not in the model's alphabet, left out of the prime: {result.dropped!r}"
        yield prime + result.texts[0], status
    finally:
        cancel.set()  # the page went away or an error ended the loop: stop the sampler
