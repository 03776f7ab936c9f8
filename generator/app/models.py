"""The models the pickers offer: shipped, named at start-up, and trained in the app."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator.app.settings import AppError, AppSettings, UserErrors, check_visitor, visitor_folder
from generator.checkpoint import CheckpointError
from generator.families import get_family, recipes
from generator.loader import find_checkpoints, load_cached, summarize_checkpoint
from generator.midi import Note
from generator.render import draw_pianoroll

NO_STYLE = "(any)"
COMPOSE, WRITE, HARMONIZE = "compose", "write", "harmonize"  # tabs that use models (Family.use)
TRAINABLE = (COMPOSE, WRITE)  # tabs whose models the Train tab makes
MODEL_NOUN = {COMPOSE: "music", WRITE: "text", HARMONIZE: "harmonizer"}  # "No music model yet";
# also the file name of a tab's default model (music.pt, text.pt)


@dataclass(frozen=True)
class ModelEntry:
    """A checkpoint the pickers offer: a stable key (what the page sends back) and a label."""

    key: str
    label: str
    path: Path
    tab: str  # the tab that uses it: COMPOSE, WRITE or HARMONIZE
    frames: bool = False  # a model of frames (a piano roll), not of tokens


def list_models(
    settings: AppSettings, tab: str | None = COMPOSE, visitor: str | None = None
) -> list[ModelEntry]:
    """Checkpoints named at start-up, shipped, shared, and trained by this ``visitor`` (in that
    order), used by one tab (COMPOSE, WRITE, HARMONIZE; None for all)."""
    folder = visitor_folder(visitor) if check_visitor(visitor) else None
    return _list_models(settings, tab, folder)


def _list_models(settings: AppSettings, tab: str | None, folder: str | None) -> list[ModelEntry]:
    added_dirs = tuple(p for p in settings.extra_checkpoints if p.is_dir())
    paths = [("added", p) for p in settings.extra_checkpoints if p.is_file()]
    paths += [("added", p) for p in find_checkpoints(added_dirs)]
    paths += [("shipped", p) for p in find_checkpoints(settings.checkpoint_dirs)]
    paths += [("trained", p) for p in find_checkpoints([settings.models_dir])]
    if folder:
        paths += [(f"mine:{folder}", p) for p in find_checkpoints([settings.visitors_dir / folder])]
    entries, seen = [], set()
    for origin, path in paths:
        summary = summarize_checkpoint(path)
        if summary is None or summary.path in seen:
            continue
        seen.add(summary.path)
        family = get_family(summary.family)  # read_checkpoint knows it: no KeyError
        entry_tab = family.use(summary.tokenizer_kind)
        if tab is not None and entry_tab != tab:
            continue
        key = f"{origin}:{path.stem}"
        while key in {e.key for e in entries}:
            key += "+"
        label = {"shipped": "{} (shipped{})", "trained": "{} (trained here{})"}.get(
            origin, "{} (yours{})" if origin.startswith("mine:") else "{} (added{})"
        )
        frames = family.unit == "frame"
        label = label.format(path.stem, f", {family.title}" if frames else "")
        entries.append(ModelEntry(key, label, summary.path, entry_tab, frames))
    return entries


def model_choices(
    settings: AppSettings, tab: str = COMPOSE, visitor: str | None = None
) -> tuple[list[tuple[str, str]], str]:
    """(label, key) pairs for a picker, and the default key: the first model named after the
    tab's models (``music.pt`` in Compose), else the first listed ("" when there is none)."""
    entries = list_models(settings, tab, visitor)
    default = next((e.key for e in entries if e.path.stem == MODEL_NOUN.get(tab)), None)
    return [(e.label, e.key) for e in entries], default or (entries[0].key if entries else "")


_MINE = re.compile(r"mine:([0-9a-f]{32}):")


def _entries_for_key(settings: AppSettings, key: str, tab: str | None) -> list[ModelEntry]:
    """The models a key may name: a visitor's own key carries its folder (a hash of the
    visitor's token that only that visitor's page is shown), so the public endpoints need no
    visitor to use it."""
    mine = _MINE.match(key or "")
    return _list_models(settings, tab, mine.group(1) if mine else None)


def _train_command(tab: str) -> str:
    """The command that trains a model for ``tab``."""
    recipe = next((r.name for r in recipes() if r.tab == tab), "RECIPE")
    return f"python -m generator train {recipe}"


def resolve_model(settings: AppSettings, key: str, tab: str = COMPOSE) -> Path:
    """The checkpoint behind a picker key; only listed models can be used."""
    for entry in _entries_for_key(settings, key, tab):
        if entry.key == key:
            return entry.path
    if not key:
        how = "in the Train tab" if tab in TRAINABLE else f"with {_train_command(tab)}"
        raise AppError(
            f"No {MODEL_NOUN.get(tab, tab)} model yet: train one {how}, or start the app with "
            "--checkpoint PATH."
        )
    raise AppError(f"Model {key!r} is not available any more; pick one from the list.")


def model_text(settings: AppSettings, key: str, tab: str = COMPOSE) -> str:
    """The one-line description of a picked model, or how to get one."""
    noun = MODEL_NOUN.get(tab, tab)
    if not key:
        if tab in TRAINABLE:
            return (
                f"No {noun} model yet: train one in the Train tab (it appears here), or start "
                "the app with `--checkpoint PATH`."
            )
        return (
            f"No {noun} model yet: train one with `{_train_command(tab)}`, then start the app "
            "with `--checkpoint PATH`."
        )
    with UserErrors("Cannot load the model"):
        return describe_model(load_cached(resolve_model(settings, key, tab)))


def frames_model(settings: AppSettings, key: str, tab: str = COMPOSE) -> bool:
    """Whether a picked model makes frames of keys (a piano roll) rather than tokens."""
    return any(e.frames for e in _entries_for_key(settings, key, tab) if e.key == key)


def is_frames(loaded) -> bool:
    """Whether a loaded model predicts frames of keys (a piano roll) rather than tokens."""
    return get_family(loaded.family).unit == "frame"


def model_styles(settings: AppSettings, key: str) -> tuple[list[str], str, str]:
    """Style choices of a music model, the default style, and a one-line description."""
    if not key:
        return [NO_STYLE], NO_STYLE, model_text(settings, key)
    path = resolve_model(settings, key)
    with UserErrors("Cannot load the model"):
        loaded = load_cached(path)
    styles = list(getattr(loaded.tokenizer, "styles", []))
    counts = (loaded.info.get("corpus") or {}).get("styles") or {}
    ranked = sorted((s for s in styles if s in counts), key=lambda s: -counts[s])
    default = ranked[0] if ranked else NO_STYLE
    return [NO_STYLE, *styles], default, describe_model(loaded)


def describe_model(loaded) -> str:
    """One line about a model: its shape, what it learned from and how well."""
    config = loaded.model.config
    info = loaded.info
    family = get_family(loaded.family)
    parts = [
        f"{getattr(config, 'cell', loaded.family).upper()} "
        f"{getattr(config, 'num_layers', '?')}×{getattr(config, 'hidden_size', '?')}",
        *family.settings(config, loaded.tokenizer),
    ]
    unit = family.unit
    corpus = info.get("corpus") or {}
    if corpus.get("files_read"):
        files = corpus["files_read"]
        parts.append(f"trained on {files} file{'s' if files != 1 else ''}")
    if info.get("steps"):
        parts.append(f"{info['steps']} steps")
    if info.get("best_valid_nll") is not None:
        parts.append(f"valid NLL {info['best_valid_nll']:.2f} nats/{unit}")
    return " · ".join(parts)


def gradio_temp_dir() -> Path:
    """Where Gradio keeps uploads and the copies of files it serves: outside the app's folder."""
    return Path(tempfile.gettempdir()) / f"rnn-generator-gradio-{os.getuid()}"


def served_folders(settings: AppSettings) -> tuple[list[str], list[str]]:
    """(allowed, blocked) folders for Gradio's file route: only the per-request output folders
    (random names) may be served; models, caches, training jobs and examples never are."""
    allowed = [str(settings.outputs_dir)]
    blocked = [
        str(folder)
        for folder in (
            settings.models_dir,
            settings.cache_dir,
            settings.training_dir,
            settings.app_dir / "examples",
        )
    ]
    return allowed, blocked


def prepare(settings: AppSettings, threads: int = 1) -> None:
    """Before serving: make the app's folders, keep Gradio's files inside them, set torch's
    thread count, and load the SoundFont, matplotlib and the default model so the first
    Generate is fast. One thread: on a small shared CPU, more threads make sampling a small
    RNN slower (measured 0.2 s with one thread against 7 s with two on a busy 2-core machine)."""
    import torch

    from generator.render.audio import soundfont_bytes

    for folder in (settings.outputs_dir, settings.models_dir, settings.training_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for leftover in settings.training_dir.iterdir():  # no job runs yet: a killed server's
        shutil.rmtree(leftover, ignore_errors=True)  # staged uploads and caches go
    # Gradio names its copies by their path in its folder, and the page sees that path: a
    # folder of its own in the system's temporary folder tells nothing of the app's folder.
    if not os.environ.get("GRADIO_TEMP_DIR"):
        os.environ["GRADIO_TEMP_DIR"] = str(gradio_temp_dir())
    if threads:  # 0: torch's default, as --threads 0 means for every command
        torch.set_num_threads(threads)
    soundfont_bytes()
    draw_pianoroll([Note(0.0, 1.0, 60, 80)])
    _, default = model_choices(settings)
    if default:
        try:
            load_cached(resolve_model(settings, default))
        except (AppError, CheckpointError):
            pass  # the page will say what is wrong when the model is used
