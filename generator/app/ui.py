"""The browser app's page: the only module that imports Gradio.

``rnn-generator app`` (or ``python app.py`` in a checkout) serves it at http://127.0.0.1:7860.
This module lays out the page and wires components to the plain functions of
``generator.app``, which call the ``generator`` package and return plain data. Here their
``AppError`` becomes Gradio's error and their ``Notice`` a toast. No model lives here; models
are loaded through ``generator.loader.load_cached``.
"""

from __future__ import annotations

import functools
import inspect
import math

import gradio as gr
import pandas as pd

import generator.app as handlers

INTRO = """# RNN music generator
Recurrent networks (tanh RNN, LSTM, GRU) that learned music from MIDI files and text.
**Compose** new pieces with a shipped model or your own, **Harmonize** a melody in four parts,
**Write** text, and **Train** a small model on your own MIDI or text files."""

UPLOAD_HINT = "MIDI files train a music model; text files (.txt, .md) a text model."
SLOT_SIZE = 7  # components per variation: group, title, audio, picture, score, MIDI, MusicXML
UI_ONLY = "private"  # events that only the page itself calls: not offered to API clients
QUEUE_SIZE = 64  # requests that may wait for a worker; one more is told the queue is full
CURVE_COLORS = {"train": "#4f46e5", "valid": "#f97316"}  # the loss curve's two lines
CSS = """
.variation {padding: 4px 8px;}
.variation .block {border: none !important; box-shadow: none !important;}
.status {min-height: 1.5em;}
.score-page {background: white; color: black; padding: 4px; border-radius: 4px;}
.score-page img {width: 100%; height: auto;}
.clamp-note {color: #b45309; font-size: 0.85em; padding: 2px 8px;}
footer {display: none !important;}
/* the main button sits above the results; on a phone the results column comes first, so what
   a press makes is next to the button, and the settings follow */
@media (max-width: 767px) {
  .tab-row {flex-direction: column-reverse !important;}
}
"""


# Gradio's sliders clamp a typed number to their range without a word; this says so under the
# slider ("999 is more than 64, the most: 64 is used") until the next change.
CLAMP_NOTE_JS = """
() => {
  const note = (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !["number", "range"].includes(box.type)) return;
    const typed = Number(box.value);
    let text = "";  // a moved slider (type range) clears the note
    if (box.type === "range" || box.value === "") {
      text = "";
    } else if (box.max !== "" && typed > Number(box.max)) {
      text = `${typed} is more than ${box.max}, the most: ${box.max} is used`;
    } else if (box.min !== "" && typed < Number(box.min)) {
      text = `${typed} is less than ${box.min}, the least: ${box.min} is used`;
    }
    const block = box.closest(".block");
    if (!block) return;
    let line = block.querySelector(".clamp-note");
    if (!line && text) {
      line = document.createElement("div");
      line.className = "clamp-note";
      block.appendChild(line);
    }
    if (line) line.textContent = text;
  };
  document.addEventListener("change", note, true);
  const enter = (event) => { if (event.key === "Enter") note(event); };
  document.addEventListener("keydown", enter, true);
}
"""


def build_app(settings: handlers.AppSettings, jobs: handlers.TrainingJobs) -> gr.Blocks:
    """The page: Compose, Harmonize, Write and Train tabs, each wired to generator.app."""
    choices, default_model = handlers.model_choices(settings)
    styles, default_style, model_text = handlers.model_styles(settings, default_model)
    with gr.Blocks(
        title="RNN music generator",
        analytics_enabled=False,
        delete_cache=(3600, 6 * 3600),  # Gradio's copies of served files: hourly, after 6 h
    ) as demo:
        # The visitor's token (random, made on the first visit) in the browser's storage:
        # it names the visitor's own trained models and training job across page reloads.
        visitor = gr.BrowserState(
            None, storage_key="rnn-generator-visitor", secret=handlers.browser_secret(settings)
        )
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Compose", id="compose"):
                compose = _compose_tab(
                    settings, choices, default_model, styles, default_style, model_text
                )
            with gr.Tab("Harmonize", id="harmonize"):
                harmony_model = _harmonize_tab(settings)
            with gr.Tab("Write", id="write"):
                write_model = _write_tab(settings)
            with gr.Tab("Train", id="train"):
                train = _train_tab(settings, jobs, visitor, compose["model"], write_model)
        opened = demo.load(
            _visitor, inputs=[visitor], outputs=[visitor], api_visibility=UI_ONLY, queue=False
        )
        for tab, picker in ((handlers.COMPOSE, compose["model"]), (handlers.WRITE, write_model)):
            opened.then(
                functools.partial(_refresh_models, settings, tab),
                inputs=[visitor, picker],
                outputs=[picker],
                api_visibility=UI_ONLY,
            )
        opened.then(
            functools.partial(_refresh_harmonizers, settings),
            inputs=[harmony_model],
            outputs=[harmony_model],
            api_visibility=UI_ONLY,
        )
        opened.then(  # a reloaded page shows the visitor's running training again
            functools.partial(_watch_training, settings, jobs),
            inputs=[visitor],
            outputs=train,
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility=UI_ONLY,
        )
    return demo


PIANOROLL_HELP = (
    "A **piano-roll** model: it plays frame by frame from an opening chord "
    f"({handlers.OPENING_CHORD}) or your primer MIDI. Style, seed note, top-k and top-p do not "
    "apply to it and are hidden."
)
START_INFO = "A first note; the null zero vector (no style, no note); or your MIDI"
PIANOROLL_START_INFO = f"The chord {handlers.OPENING_CHORD}, or your MIDI, to continue"


def _compose_tab(settings, choices, default_model, styles, default_style, model_text) -> dict:
    pianoroll = handlers.frames_model(settings, default_model)
    if pianoroll:
        model_text = f"{model_text}\n\n{PIANOROLL_HELP}"
    with gr.Row(equal_height=False, elem_classes="tab-row"):
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(
                choices,
                value=default_model or None,
                label="Model",
                info="Shipped models, and those trained in the Train tab",
            )
            model_info = gr.Markdown(model_text, elem_classes="status")
            style = gr.Dropdown(
                styles,
                value=default_style,
                label="Style",
                info="A style the model learned (its training folders' names)",
                visible=not pianoroll,
            )
            start = gr.Radio(
                list(handlers.PIANOROLL_START_CHOICES if pianoroll else handlers.START_CHOICES),
                value=handlers.START_CHORD if pianoroll else handlers.START_SEED_NOTE,
                label="How to start",
                info=PIANOROLL_START_INFO if pianoroll else START_INFO,
            )
            seed_note = gr.Dropdown(
                list(handlers.SEED_NOTE_CHOICES),
                value="D4",
                allow_custom_value=True,
                label="Seed note",
                info="The first note (C4 = middle C); type any name such as F#3 or Bb2",
                visible=not pianoroll,
            )
            primer = gr.File(
                label="Primer MIDI (the model continues it)",
                file_types=[".mid", ".midi"],
                type="filepath",
                visible=False,
                elem_id="primer",
            )
            bars = gr.Slider(
                1, handlers.MAX_UI_BARS, value=8, step=1, label="Bars",
                info="Length of the new music, in bars of its meter (4/4 without one)",
            )  # fmt: skip
            variations = gr.Slider(
                1, handlers.MAX_UI_VARIATIONS, value=2, step=1, label="Variations",
                info="Pieces made side by side, in one batch",
            )  # fmt: skip
            with gr.Accordion("Sampling", open=False):
                temperature = gr.Slider(
                    0.1, 2.0, value=0.9, step=0.05, label="Temperature",
                    info="Lower: safer and more repetitive; higher: wilder",
                )  # fmt: skip
                top_k = gr.Slider(
                    0, 100, value=0, step=1, label="Top-k", visible=not pianoroll,
                    info="Sample only from the k likeliest events (0 = all)",
                )  # fmt: skip
                top_p = gr.Slider(
                    0.05, 1.0, value=0.95, step=0.01, label="Top-p", visible=not pianoroll,
                    info="Sample only from the likeliest events that cover this probability",
                )  # fmt: skip
                seed = gr.Textbox(
                    "", label="Random seed", placeholder="random",
                    info="Empty: new pieces every time; the seed used is shown with the results",
                )  # fmt: skip
            limits = handlers.compose_limits(settings, default_model)
            with gr.Accordion("Stay inside", open=False, visible=not pianoroll) as inside:
                key = gr.Dropdown(
                    list(handlers.KEY_CHOICES), value=handlers.KEY_NONE, label="Key",
                    allow_custom_value=True,
                    info="Every note in this key's scale; Auto: one key the first notes choose",
                )  # fmt: skip
                scale = gr.Dropdown(
                    list(handlers.SCALE_CHOICES), value="major", label="Scale",
                    info="Major, minor, the church modes or pentatonic (with a key)",
                )  # fmt: skip
                with gr.Row():
                    lowest = gr.Textbox(
                        "", label="Lowest note", placeholder=_range_hint(limits, 0),
                        info="e.g. C4; empty: the model's range",
                    )  # fmt: skip
                    highest = gr.Textbox(
                        "", label="Highest note", placeholder=_range_hint(limits, 1),
                        info="e.g. A5; empty: the model's range",
                    )  # fmt: skip
                voices = gr.Slider(
                    0, handlers.MAX_UI_VOICES, value=0, step=1, label="Voices",
                    info="At most this many notes start together: 0 = as the style has, "
                    "1 = one line",
                )  # fmt: skip
                meter = gr.Dropdown(
                    [handlers.METER_MODEL, *limits.meters], value=handlers.METER_MODEL,
                    label="Meter", info="A time signature the model learned",
                    allow_custom_value=True,  # any model's meters via the API: checked there
                    visible=bool(limits.meters),
                )  # fmt: skip
                pitch_temperature = gr.Slider(
                    0.1, 3.0, value=1.0, step=0.05, label="Pitch temperature",
                    info="Among notes only, on top of the temperature: lower keeps to the "
                    "likeliest notes",
                )  # fmt: skip
            with gr.Accordion("Sound", open=False):
                bpm = gr.Slider(
                    40, 240, value=120, step=1, label="Tempo (BPM)",
                    info="Beats per minute of the written MIDI and the audio",
                )  # fmt: skip
                program = gr.Dropdown(
                    list(handlers.INSTRUMENTS), value=0, label="Instrument",
                    info="General MIDI program the piece is played with",
                )  # fmt: skip
        with gr.Column(scale=2, elem_classes="results"):
            generate = gr.Button("Generate", variant="primary", elem_id="generate")
            status = gr.Markdown("Press **Generate**.", elem_classes="status", elem_id="status")
            slots = []
            for index in range(handlers.MAX_UI_VARIATIONS):
                with gr.Group(visible=False, elem_classes="variation") as group:
                    title = gr.Markdown(f"Variation {index + 1}")
                    audio = gr.Audio(type="filepath", interactive=False, show_label=False)
                    picture = gr.Image(
                        type="filepath",
                        format="png",
                        interactive=False,
                        show_label=False,
                        buttons=["download", "fullscreen"],
                        elem_classes="pianoroll",
                    )
                    score = gr.HTML(elem_classes="score")
                    with gr.Row():
                        midi = gr.File(
                            label="MIDI file", interactive=False, elem_classes="midi-file"
                        )
                        musicxml = gr.File(
                            label="MusicXML (MuseScore, Finale, Dorico)",
                            interactive=False,
                            elem_classes="musicxml-file",
                        )
                slots.append((group, title, audio, picture, score, midi, musicxml))

    model.change(
        functools.partial(_model_changed, settings),
        inputs=[model, start, meter],
        outputs=[
            style,
            model_info,
            start,
            seed_note,
            primer,
            top_k,
            top_p,
            inside,
            meter,
            lowest,
            highest,
        ],  # fmt: skip
        api_visibility=UI_ONLY,
    )
    start.change(
        _start_changed,
        inputs=[start],
        outputs=[style, seed_note, primer],
        api_visibility=UI_ONLY,
    )
    primer.upload(
        _primer_uploaded, inputs=[primer], outputs=[primer, start], api_visibility=UI_ONLY
    )
    outputs = [status] + [c for slot in slots for c in slot]
    generate.click(
        functools.partial(_compose, settings),
        inputs=[
            model,
            style,
            start,
            seed_note,
            primer,
            temperature,
            top_k,
            top_p,
            bars,
            bpm,
            program,
            variations,
            seed,
            key,  # the "Stay inside" settings: last, so older API calls keep working
            scale,
            lowest,
            highest,
            voices,
            meter,
            pitch_temperature,
        ],  # fmt: skip
        outputs=outputs,
        concurrency_limit=2,
        concurrency_id="compose",
        api_name="compose",
    )
    return {"model": model}


def _harmonize_tab(settings) -> gr.Dropdown:
    choices, default = handlers.harmony_choices(settings)
    with gr.Row(equal_height=False, elem_classes="tab-row"):
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(
                choices,
                value=default or None,
                label="Harmonizer",
                info="An encoder-decoder that writes voices under a melody",
            )
            model_info = gr.Markdown(
                handlers.harmony_model_text(settings, default), elem_classes="status"
            )
            example = gr.Dropdown(
                handlers.example_choices(),
                value=handlers.default_example(),
                label="Example melody",
                info="Tunes bundled with the app; used when no file is uploaded",
            )
            melody = gr.File(
                label="Or upload a melody MIDI",
                file_types=[".mid", ".midi"],
                type="filepath",
                elem_id="melody",
            )
            gr.Markdown(
                "The melody is the track named Soprano or Melody, else the highest one; it is "
                "kept as it is and the new voices are added below it."
            )
            with gr.Accordion("Sampling and sound", open=False):
                temperature = gr.Slider(
                    0.1, 1.5, value=0.7, step=0.05, label="Temperature",
                    info="Lower: plainer, longer-held chords; higher: busier, riskier voices",
                )  # fmt: skip
                seed = gr.Textbox(
                    "", label="Random seed", placeholder="random",
                    info="Empty: a new harmony every time; the seed used is shown with it",
                )  # fmt: skip
                bpm = gr.Slider(
                    40, 200, value=handlers.HARMONY_DEFAULT_BPM, step=1, label="Tempo (BPM)",
                    info=f"At {handlers.HARMONY_DEFAULT_BPM}: the melody's own tempo (and its "
                    "changes); else one tempo for the written MIDI and the audio",
                )  # fmt: skip
        with gr.Column(scale=2, elem_id="harmonized", elem_classes="results"):
            harmonize = gr.Button("Harmonize", variant="primary", elem_id="harmonize")
            status = gr.Markdown(
                "Press **Harmonize**.", elem_classes="status", elem_id="harmonize-status"
            )
            audio = gr.Audio(type="filepath", interactive=False, show_label=False)
            pianoroll = gr.Image(
                type="filepath", format="png", interactive=False, label="Piano roll",
                buttons=["download", "fullscreen"], elem_classes="pianoroll",
            )  # fmt: skip
            score = gr.HTML(elem_classes="score")
            with gr.Row():
                midi = gr.File(label="MIDI file", interactive=False, elem_classes="midi-file")
                musicxml = gr.File(
                    label="MusicXML (MuseScore, Finale, Dorico)",
                    interactive=False,
                    elem_classes="musicxml-file",
                )
            with gr.Accordion("Attention heat map", open=False):
                attention = gr.Image(
                    type="filepath", format="png", interactive=False, show_label=False,
                    buttons=["download", "fullscreen"],
                )  # fmt: skip
    model.change(
        functools.partial(_harmony_model_changed, settings),
        inputs=[model],
        outputs=[model_info],
        api_visibility=UI_ONLY,
    )
    harmonize.click(
        functools.partial(_harmonize, settings),
        inputs=[model, melody, example, bpm, temperature, seed],
        outputs=[status, audio, pianoroll, midi, attention, score, musicxml],
        concurrency_limit=2,
        concurrency_id="harmonize",
        api_name="harmonize",
    )
    return model


def _write_tab(settings) -> gr.Dropdown:
    choices, default = handlers.model_choices(settings, handlers.WRITE)
    with gr.Row(equal_height=False, elem_classes="tab-row"):
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(
                choices,
                value=default or None,
                label="Text model",
                info="Character or SentencePiece models: shipped, trained in the Train tab, "
                "or named at start-up",
            )
            model_info = gr.Markdown(handlers.model_text(settings, default, handlers.WRITE))
            prime = gr.Textbox(
                label="Prime",
                lines=3,
                max_length=20_000,
                placeholder="The text the model continues (may be empty)",
                info="Characters the model never saw are left out",
            )
            length = gr.Slider(
                20, handlers.MAX_UI_CHARACTERS, value=500, step=10, label="Length",
                info="New characters to write",
            )  # fmt: skip
            with gr.Accordion("Sampling", open=False):
                temperature = gr.Slider(
                    0.1, 2.0, value=0.8, step=0.05, label="Temperature",
                    info="Lower: safer and more repetitive; higher: wilder",
                )  # fmt: skip
                top_k = gr.Slider(
                    0, 100, value=0, step=1, label="Top-k",
                    info="Sample only from the k likeliest tokens (0 = all)",
                )  # fmt: skip
                top_p = gr.Slider(
                    0.05, 1.0, value=0.95, step=0.01, label="Top-p",
                    info="Sample only from the likeliest tokens that cover this probability",
                )  # fmt: skip
                seed = gr.Textbox(
                    "", label="Random seed", placeholder="random",
                    info="Empty: new text every time; the seed used is shown below",
                )  # fmt: skip
        with gr.Column(scale=2, elem_classes="results"):
            with gr.Row():
                write = gr.Button("Write", variant="primary", elem_id="write")
                stop = gr.Button("Stop", elem_id="stop-writing")
            status = gr.Markdown("Press **Write**.", elem_classes="status", elem_id="write-status")
            text = gr.Textbox(
                label="Text", lines=18, max_lines=40, interactive=False, autoscroll=True,
                buttons=["copy"], elem_id="written",
            )  # fmt: skip
    model.change(
        functools.partial(_text_model_changed, settings),
        inputs=[model],
        outputs=[model_info],
        api_visibility=UI_ONLY,
    )
    writing = write.click(
        functools.partial(_write, settings),
        inputs=[model, prime, length, temperature, top_k, top_p, seed],
        outputs=[text, status],
        concurrency_limit=2,
        concurrency_id="write",
        api_name="write",
    )
    stop.click(_write_stopped, outputs=[status], cancels=[writing], api_visibility=UI_ONLY)
    return model


def _train_tab(settings, jobs, visitor, compose_model, write_model) -> list:
    gr.Markdown(
        "Upload MIDI files or text files (or a .zip of either), pick a size, and train. MIDI "
        "files make a **music** model for the Compose tab (a zip's folders name styles); .txt "
        "and .md files make a **text** model for the Write tab. Training runs in the "
        "background; the model is saved when it ends or when you press **Stop**."
    )
    with gr.Row(equal_height=False, elem_classes="tab-row"):
        with gr.Column(scale=1, min_width=320):
            files = gr.File(
                label="MIDI or text files, or a zip",
                file_count="multiple",
                file_types=[".mid", ".midi", ".txt", ".md", ".zip"],
                type="filepath",
                elem_id="train-files",
            )
            recipe = gr.Radio(
                list(handlers.RECIPE_CHOICES),
                value=handlers.RECIPE_AUTO,
                label="What to train",
                info="From the files: MIDI files train music, text files train text. Pick one to "
                "skip files of the other kind; a piano roll learns whole chords from MIDI",
            )
            upload_hint = gr.Markdown(UPLOAD_HINT, elem_classes="status", elem_id="upload-kind")
            with gr.Accordion(
                "Music: styles, files to leave out, versions", open=False, elem_id="music-rules"
            ) as music_rules:
                styles = gr.Radio(
                    list(handlers.STYLE_CHOICES),
                    value=next(iter(handlers.STYLE_CHOICES)),
                    label="Styles",
                    info="Each first-level folder of a zip is a style, or the model learns none",
                    elem_id="train-styles",
                )
                style = gr.Textbox(
                    label="Style of the loose files (optional)",
                    info="Files uploaded outside a zip get this style",
                    max_length=40,
                )
                exclude = gr.Textbox(
                    label="Leave out",
                    placeholder="melody, *-draft.mid",
                    info="Folders or file patterns inside your uploads, separated by commas",
                    max_length=500,
                    elem_id="train-exclude",
                )
                group_versions = gr.Checkbox(
                    value=True,
                    label="Keep versions of a tune together",
                    info="Files of the same name in different folders are one tune: all of its "
                    "versions train, or all validate",
                    elem_id="train-group",
                )
            with gr.Row():
                tokenizer = gr.Radio(
                    list(handlers.TOKENIZERS),
                    value=next(iter(handlers.TOKENIZERS)),
                    label="Tokenizer (text only)",
                    info="Characters: any text, small models; subwords: fewer, longer tokens",
                )
                vocab = gr.Slider(
                    handlers.MIN_SUBWORDS, handlers.MAX_SUBWORDS, step=100,
                    value=handlers.DEFAULT_SUBWORDS,
                    label="Subwords", visible=False,
                    info="SentencePiece vocabulary, at most (a small text gives fewer)",
                )  # fmt: skip
            preset = gr.Radio(
                list(handlers.PRESETS),
                value=next(iter(handlers.PRESETS)),
                label="Model size",
                info=f"Bigger models learn more but train slower. Speeds measured on "
                f"{handlers.SIZE_SPEEDS_WHERE}; training measures this server before step 1",
                elem_id="train-size",
            )
            steps = gr.Slider(
                50, handlers.MAX_TRAIN_STEPS, value=300, step=50, label="Training steps",
                info="Optimizer steps; a few hundred give a first result",
            )  # fmt: skip
            name = gr.Textbox(
                "", label="Model name", placeholder="my-music or my-text",
                info="Letters, digits, - and _", max_length=40, elem_id="train-name",
            )  # fmt: skip
        with gr.Column(scale=2, elem_classes="results"):
            with gr.Row():
                start = gr.Button("Train", variant="primary", elem_id="train")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop")
            status = gr.Markdown(
                "No training running.", elem_classes="status", elem_id="train-status"
            )
            curve = gr.LinePlot(
                _curve_frame([]),
                x="step",
                y="loss",
                color="split",
                color_map=CURVE_COLORS,
                title="Loss (nats per token)",
                height=280,
                x_title="step",
                y_title="loss",
                visible=False,  # shown with the first points: an empty chart has odd ticks
            )
            report = gr.Textbox(
                label="Corpus report", lines=10, max_lines=20, interactive=False,
                elem_id="train-report",
            )  # fmt: skip
    outputs = [status, report, curve, start, stop, compose_model, write_model]
    for event in (files.change, recipe.change, tokenizer.change, styles.change):
        event(
            _upload_changed,
            inputs=[files, recipe, tokenizer, styles],
            outputs=[upload_hint, music_rules, style, tokenizer, vocab],
            show_progress="hidden",
            api_visibility=UI_ONLY,
        )
    start.click(
        functools.partial(_train, settings, jobs),
        inputs=[visitor, files, style, preset, steps, name, recipe, tokenizer, vocab]
        + [styles, exclude, group_versions],  # start_training's arguments, in order
        outputs=outputs,
        concurrency_limit=None,  # the app runs one job at a time itself and says so
        api_visibility=UI_ONLY,
    )
    stop.click(
        functools.partial(_stop, jobs),
        inputs=[visitor],
        outputs=[status],
        concurrency_limit=None,
        api_visibility=UI_ONLY,
    )
    return outputs


def _shows_errors(function):
    """An event function whose AppError reaches the page as Gradio's error (a modal that names
    the problem); generator functions stay generator functions, so Gradio streams them."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def stream(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except handlers.AppError as error:
                raise gr.Error(error.message) from None

        return stream

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except handlers.AppError as error:
            raise gr.Error(error.message) from None

    return call


def _show(notice: handlers.Notice | None) -> None:
    """A handler's passing message as a toast: gr.Warning or gr.Info."""
    if notice is not None:
        (gr.Warning if notice.level == "warning" else gr.Info)(notice.text)


# -- adapters: generator.app's plain results → component updates -------------------------------
@_shows_errors
def _visitor(token):
    """The visitor's token from the browser's storage, or a new one on a first visit."""
    return handlers.check_visitor(token) or handlers.new_visitor()


@_shows_errors
def _refresh_models(settings, tab, visitor, current):
    choices, default = handlers.model_choices(settings, tab, handlers.check_visitor(visitor))
    keys = [key for _, key in choices]
    return gr.update(choices=choices, value=current if current in keys else default or None)


def _failed(error: handlers.AppError) -> str:
    """An error as the page keeps it: a lasting status line (and a toast that fades)."""
    gr.Warning(error.message)
    return f"⚠ {error.message}"


def _range_hint(limits, end: int) -> str:
    """A note box's placeholder: the model's lowest or highest note, when it records it."""
    if not limits.range_text:
        return "the model's range"
    return f"model: {limits.range_text.split('–')[end]}"


@_shows_errors
def _model_changed(settings, model_key, start, meter):
    """Controls for the picked model; visibility is set here too, not left to start.change,
    so the page never shows a stale control while events settle."""
    styles, default, text = handlers.model_styles(settings, model_key)
    limits = handlers.compose_limits(settings, model_key)
    pianoroll = handlers.frames_model(settings, model_key)
    if pianoroll:
        choices, info = handlers.PIANOROLL_START_CHOICES, PIANOROLL_START_INFO
        keep = start if start in choices else handlers.START_CHORD
        text = f"{text}\n\n{PIANOROLL_HELP}"
    else:
        choices, info = handlers.START_CHOICES, START_INFO
        keep = start if start in choices else handlers.START_SEED_NOTE
    return (
        gr.update(
            choices=styles,
            value=default,
            visible=not pianoroll,
            interactive=keep != handlers.START_NULL,
        ),
        text,
        gr.update(choices=list(choices), value=keep, info=info),
        gr.update(visible=keep == handlers.START_SEED_NOTE),
        gr.update(visible=keep == handlers.START_PRIMER),
        gr.update(visible=not pianoroll),
        gr.update(visible=not pianoroll),
        gr.update(visible=not pianoroll),
        gr.update(
            choices=[handlers.METER_MODEL, *limits.meters],
            value=meter if meter in limits.meters else handlers.METER_MODEL,
            visible=bool(limits.meters),
        ),
        gr.update(placeholder=_range_hint(limits, 0)),
        gr.update(placeholder=_range_hint(limits, 1)),
    )


@_shows_errors
def _refresh_harmonizers(settings, current):
    choices, default = handlers.harmony_choices(settings)
    keys = [key for _, key in choices]
    return gr.update(choices=choices, value=current if current in keys else default or None)


@_shows_errors
def _harmonize(settings, *values):
    try:
        result = handlers.harmonize_melody(settings, *values)
    except handlers.AppError as error:  # the previous harmony stays on the page
        return (_failed(error),) + (gr.update(),) * 6
    attention = str(result.attention) if result.attention else None
    musicxml = str(result.musicxml) if result.musicxml else None
    return (
        result.status,
        str(result.audio),
        str(result.pianoroll),
        str(result.midi),
        attention,
        result.score,
        musicxml,
    )


@_shows_errors
def _harmony_model_changed(settings, model_key):
    return handlers.harmony_model_text(settings, model_key)


@_shows_errors
def _text_model_changed(settings, model_key):
    return handlers.model_text(settings, model_key, handlers.WRITE)


@_shows_errors
def _write(settings, *values):
    try:
        yield from handlers.write_text(settings, *values)
    except handlers.AppError as error:  # the previous text stays on the page
        yield gr.update(), _failed(error)


@_shows_errors
def _write_stopped():
    return "Stopped; the text so far is kept."


@_shows_errors
def _start_changed(start):
    return (
        gr.update(interactive=start != handlers.START_NULL),
        gr.update(visible=start == handlers.START_SEED_NOTE),
        gr.update(visible=start == handlers.START_PRIMER),
    )


@_shows_errors
def _primer_uploaded(path):
    kept, start, notice = handlers.primer_uploaded(path)
    _show(notice)
    return kept, (gr.update() if start is None else start)


@_shows_errors
def _compose(settings, *values):
    try:
        result = handlers.compose(settings, *values)
    except handlers.AppError as error:  # the previous variations stay on the page
        return [_failed(error)] + [gr.update()] * (SLOT_SIZE * handlers.MAX_UI_VARIATIONS)
    updates = [result.status]
    for index in range(handlers.MAX_UI_VARIATIONS):
        if index < len(result.variations):
            v = result.variations[index]
            updates += [
                gr.update(visible=True),
                f"**{v.title}**",
                str(v.audio),
                str(v.picture),
                v.score,
                str(v.midi),
                str(v.musicxml) if v.musicxml else None,
            ]
        else:
            updates += [gr.update(visible=False), "", None, None, "", None, None]
    return updates


@_shows_errors
def _upload_changed(files, recipe_choice, tokenizer, styles):
    recipe, line, notice = handlers.describe_upload(files, recipe_choice)
    _show(notice)
    if not files:
        line = UPLOAD_HINT
    text = handlers.takes_option(recipe, "tokenizer")  # text: a tokenizer and its vocabulary
    return (
        line,
        gr.update(visible=handlers.takes_option(recipe, "styles")),  # music only
        gr.update(visible=handlers.STYLE_CHOICES.get(styles) != "none"),
        gr.update(visible=text),
        gr.update(visible=text and handlers.TOKENIZERS[tokenizer] != "char"),
    )


# Gradio's LinePlot (6.31) keeps the colour domain of its first non-empty update and draws
# nothing after an empty one; a blank point of each split (loss NaN, not drawn) keeps both.
_BLANK_CURVE = [{"step": 0, "loss": math.nan, "split": split} for split in CURVE_COLORS]


def _curve_frame(points: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(_BLANK_CURVE + points, columns=["step", "loss", "split"]).astype(
        {"step": "int64", "loss": "float64", "split": "string"}
    )


def _curve_update(progress):
    """The loss chart: hidden until a job has points, then drawn; kept as it is otherwise."""
    if progress.curve:
        return gr.update(value=_curve_frame(progress.curve), visible=True)
    if progress.running:  # a new job: its chart starts empty, so hide it
        return gr.update(value=_curve_frame([]), visible=False)
    return gr.update()


@_shows_errors
def _train(settings, jobs, visitor, *values):
    visitor = handlers.check_visitor(visitor)
    if visitor is None:  # a raw client that skipped the page's start: it owns nothing
        yield _failed(handlers.AppError("Reload the page, then train.")), *[gr.update()] * 6
        return
    progress = handlers.start_training(settings, jobs, *values, visitor=visitor)
    yield from _train_updates(settings, visitor, progress)


@_shows_errors
def _watch_training(settings, jobs, visitor):
    visitor = handlers.check_visitor(visitor)
    yield from _train_updates(settings, visitor, handlers.watch_training(jobs, visitor))


def _train_updates(settings, visitor, progresses):
    """The Train tab's outputs for each progress update; an error keeps the curve and report
    and leaves a lasting status line."""
    try:
        for progress in progresses:
            music_update, text_update = gr.update(), gr.update()
            if progress.new_model_key:
                choices, _ = handlers.model_choices(settings, progress.tab, visitor)
                picked = gr.update(choices=choices, value=progress.new_model_key)
                if progress.tab == handlers.COMPOSE:
                    music_update = picked
                else:
                    text_update = picked
            yield (
                progress.status,
                progress.report or gr.update(),
                _curve_update(progress),
                gr.update(interactive=not progress.running),
                gr.update(interactive=progress.running),
                music_update,
                text_update,
            )
    except handlers.AppError as error:
        yield (
            _failed(error),
            gr.update(),
            gr.update(),
            gr.update(interactive=True),
            gr.update(interactive=False),
            gr.update(),
            gr.update(),
        )


@_shows_errors
def _stop(jobs, visitor):
    return handlers.stop_training(jobs, visitor=handlers.check_visitor(visitor))


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    checkpoints: list[str] | tuple[str, ...] = (),
    app_dir: str | None = None,
    audio: str = "wav",
    threads: int = 1,
    share_trained_models: bool = False,
) -> None:
    """Prepare the app's folder and caches, and serve the page until interrupted.

    The command line (``rnn-generator app``, ``python app.py``) is generator/cli/app.py."""
    settings = handlers.settings_from_env(app_dir, list(checkpoints), audio, share_trained_models)
    handlers.prepare(settings, threads=threads)
    from generator.notation import warm_up

    warm_up()  # music21 and Verovio load now, not in the first visitor's Generate
    jobs = handlers.TrainingJobs()
    demo = build_app(settings, jobs)
    demo.queue(default_concurrency_limit=2, max_size=QUEUE_SIZE)
    allowed, blocked = handlers.served_folders(settings)
    try:
        demo.launch(
            server_name=f"[{host}]" if ":" in host and "[" not in host else host,  # IPv6
            server_port=port,
            allowed_paths=allowed,  # only outputs/<random>/: never models, caches, uploads
            blocked_paths=blocked,
            max_file_size="25mb",
            theme=gr.themes.Soft(primary_hue="indigo").set(
                button_primary_background_fill="*primary_600",
                button_primary_background_fill_hover="*primary_700",
            ),
            css=CSS,
            js=CLAMP_NOTE_JS,
            ssr_mode=False,
        )
    finally:
        jobs.stop_all()
