"""What the app's controls do: plain functions of plain values, testable without a browser.

``ui.py`` lays out the page and maps these functions' results onto components; it is the only
module that imports Gradio (``app.py`` at the project root and ``rnn-generator app`` start it).
Nothing else here builds UI or holds a model (models come from
``generator.loader.load_cached``). Problems the user should read are raised as ``AppError``
(the request stops, the page keeps working) or returned as a ``Notice`` (a passing message;
the request goes on); ``ui.py`` shows both through Gradio.

    ui.py         the page: tabs, components, events; AppError → gr.Error, Notice → a toast
    settings.py   where the app reads and writes; seeds; turning input errors into messages
    models.py     the checkpoints the pickers offer; start-up warm-up
    compose.py    music (token or piano-roll models): sample, then MIDI, audio, a piano roll
    harmonize.py  melody → melody + voices: MIDI, audio, piano roll, attention heat map
    write.py      text: sample and stream into the page
    uploads.py    training uploads (MIDI or text files, zips) staged under names the app chooses
    training.py   training jobs in a worker process, with live progress and a stop flag

Everything the app writes lives under one folder it owns (``AppSettings.app_dir``):

    outputs/<random>/    generated MIDI, audio and pictures (deleted after a few hours)
    examples/            the Harmonize tab's bundled melodies, written on first use
    models/<name>.pt     shared models (trained with --share-trained-models), in every picker
    models/visitors/<h>/ a visitor's own trained models, listed only in that visitor's pickers
    training/<job>/      the one training job's staged uploads, token cache and checkpoints
                         (removed when it ends)

Gradio keeps uploads and its copies of served files in its own folder outside this one (see
``models.gradio_temp_dir``). Only ``outputs/`` is served, under random folder names.
"""

from generator.app.compose import (
    INSTRUMENTS,
    KEY_AUTO,
    KEY_CHOICES,
    KEY_NONE,
    MAX_UI_BARS,
    MAX_UI_VARIATIONS,
    MAX_UI_VOICES,
    METER_MODEL,
    OPENING_CHORD,
    PIANOROLL_START_CHOICES,
    SCALE_CHOICES,
    SEED_NOTE_CHOICES,
    START_CHOICES,
    START_CHORD,
    START_NULL,
    START_PRIMER,
    START_SEED_NOTE,
    ComposeLimits,
    ComposeResult,
    Variation,
    check_primer,
    compose,
    compose_limits,
    primer_uploaded,
)
from generator.app.harmonize import DEFAULT_BPM as HARMONY_DEFAULT_BPM
from generator.app.harmonize import (
    HarmonizeResult,
    check_melody,
    default_example,
    example_choices,
    harmonize_melody,
    harmony_choices,
    harmony_model_text,
)
from generator.app.models import (
    COMPOSE,
    HARMONIZE,
    NO_STYLE,
    WRITE,
    ModelEntry,
    describe_model,
    frames_model,
    list_models,
    model_choices,
    model_styles,
    model_text,
    prepare,
    resolve_model,
    served_folders,
)
from generator.app.settings import (
    APP_DIR_ENV,
    CHECKPOINTS_ENV,
    AppError,
    AppSettings,
    Notice,
    browser_secret,
    check_visitor,
    new_visitor,
    parse_seed,
    safe_name,
    settings_from_env,
)
from generator.app.training import (
    DEFAULT_SUBWORDS,
    MAX_SUBWORDS,
    MAX_TRAIN_STEPS,
    MIN_SUBWORDS,
    PRESETS,
    RECIPE_AUTO,
    RECIPE_CHOICES,
    SIZE_SPEEDS_WHERE,
    STYLE_CHOICES,
    TOKENIZERS,
    TrainingJobs,
    TrainProgress,
    describe_upload,
    start_training,
    stop_training,
    takes_option,
    training_recipe,
    watch_training,
)
from generator.app.uploads import StagedUpload, stage_uploads, upload_format
from generator.app.write import MAX_UI_CHARACTERS, write_text

__all__ = [
    "harmony_model_text",
    "harmony_choices",
    "harmonize_melody",
    "example_choices",
    "default_example",
    "check_melody",
    "HarmonizeResult",
    "HARMONY_DEFAULT_BPM",
    "APP_DIR_ENV",
    "DEFAULT_SUBWORDS",
    "RECIPE_AUTO",
    "RECIPE_CHOICES",
    "MAX_SUBWORDS",
    "MIN_SUBWORDS",
    "OPENING_CHORD",
    "COMPOSE",
    "HARMONIZE",
    "WRITE",
    "PIANOROLL_START_CHOICES",
    "START_CHORD",
    "TOKENIZERS",
    "describe_upload",
    "frames_model",
    "takes_option",
    "training_recipe",
    "upload_format",
    "CHECKPOINTS_ENV",
    "INSTRUMENTS",
    "MAX_TRAIN_STEPS",
    "MAX_UI_CHARACTERS",
    "MAX_UI_BARS",
    "MAX_UI_VARIATIONS",
    "NO_STYLE",
    "PRESETS",
    "SIZE_SPEEDS_WHERE",
    "STYLE_CHOICES",
    "SEED_NOTE_CHOICES",
    "START_CHOICES",
    "START_NULL",
    "START_PRIMER",
    "START_SEED_NOTE",
    "AppError",
    "AppSettings",
    "Notice",
    "ComposeLimits",
    "ComposeResult",
    "KEY_AUTO",
    "KEY_CHOICES",
    "KEY_NONE",
    "MAX_UI_VOICES",
    "METER_MODEL",
    "SCALE_CHOICES",
    "compose_limits",
    "ModelEntry",
    "StagedUpload",
    "TrainProgress",
    "TrainingJobs",
    "Variation",
    "check_primer",
    "compose",
    "describe_model",
    "list_models",
    "model_choices",
    "model_styles",
    "model_text",
    "parse_seed",
    "prepare",
    "served_folders",
    "primer_uploaded",
    "resolve_model",
    "safe_name",
    "settings_from_env",
    "stage_uploads",
    "start_training",
    "stop_training",
    "write_text",
    "watch_training",
    "check_visitor",
    "browser_secret",
    "new_visitor",
]
