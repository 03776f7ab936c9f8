"""generator.api: the one road (load, train, generate, evaluate) for every recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator import api
from generator.checkpoint import CheckpointError
from generator.config import SHIPPED_DIR, TrainConfig
from generator.families.token_rnn import SEED_TOKENS, TextRequest
from generator.sampling import SamplingOptions

torch.set_num_threads(1)
SHIPPED = SHIPPED_DIR
TINY_MODEL = {"cell": "gru", "embedding_size": 8, "hidden_size": 16, "num_layers": 1}
TINY_TRAINING = TrainConfig(
    batch_size=2, seq_len=8, max_steps=3, eval_every=3, save_every=3, warmup_steps=1, device="cpu"
)


def test_train_text_then_load_generate_and_evaluate(tmp_path: Path) -> None:
    data = tmp_path / "text"
    data.mkdir()
    (data / "a.txt").write_text("the cat sat on the mat. " * 20, encoding="utf-8")
    lines: list[str] = []
    result = api.train(
        "text",
        data,
        tmp_path / "m.pt",
        model=TINY_MODEL,
        training=TINY_TRAINING,
        options={"segment_len": 31},
        log=lines.append,
    )
    assert result.steps == 3 and result.best_path.exists()
    assert any(line.startswith("from the data: vocabulary") for line in lines)
    loaded = api.load(result.best_path)
    assert loaded.family == "rnn" and loaded.model.config.num_seed_tokens == 0
    text = api.generate(loaded, TextRequest("the ", 12, options=SamplingOptions(seed=1)))
    assert len(text.texts) == 1 and len(text.texts[0]) == 12
    score = api.evaluate(loaded, data, {"segment_len": 31}, batch_size=2, seq_len=8)
    assert score.nats_per_token > 0 and score.characters == 24 * 20


def test_the_music_recipe_sets_the_seed_notes_the_data_does_not(tmp_path: Path) -> None:
    from generator.families.token_rnn import MUSIC
    from generator.tokenizers import MidiEventTokenizer

    fields = MUSIC.data_fields(MidiEventTokenizer(styles=["a"]))
    assert fields["num_seed_tokens"] == SEED_TOKENS == 128 and fields["num_styles"] == 1


def test_empty_data_is_nothing_to_train(tmp_path: Path) -> None:
    (tmp_path / "midi").mkdir()
    (tmp_path / "midi" / "bad.mid").write_bytes(b"not midi")
    with pytest.raises(api.NothingToTrain, match="no usable MIDI files in .*midi") as error:
        api.train("music", tmp_path / "midi", tmp_path / "m.pt", options={"cache_dir": None})
    assert error.value.what == "MIDI files"


def test_options_of_another_recipe_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="music data has no option frames_per_beat"):
        api.train("music", tmp_path, tmp_path / "m.pt", options={"frames_per_beat": 4})


def test_a_request_the_family_does_not_answer_is_a_clear_error() -> None:
    loaded = api.load(SHIPPED / "pianoroll.pt")
    with pytest.raises(ValueError, match="a piano roll model does not answer a TextRequest"):
        api.generate(loaded, TextRequest("x"))


@pytest.mark.parametrize("shipped", ["text", "pianoroll", "harmonizer"])
def test_reading_music_with_a_model_of_another_recipe_is_a_clear_error(shipped, tmp_path):
    from generator.config import SHIPPED_DIR

    loaded = api.load(SHIPPED_DIR / f"{shipped}.pt")
    with pytest.raises(ValueError, match="is not a music model .*`train music`"):
        api.read_data("music", tmp_path, tokenizer=loaded.tokenizer)


def _careless_calls():
    """(call, error type, message): the public API given careless input, each refused with
    the argument named and what was expected (hostile-tester cases)."""
    from generator.api import HarmonizeRequest, MusicRequest, PianoRollRequest, TranslateRequest
    from generator.midi.parts import Part

    melody = Part("melody", 0, [])
    music = SHIPPED / "music.pt"
    return {
        "load(None)": (lambda: api.load(None), TypeError, "path must be a file path (str or Path)"),
        "load(123)": (
            lambda: api.load(123),
            TypeError,
            "path must be a file path (str or Path), got 123",
        ),
        "load(folder)": (lambda: api.load(SHIPPED), CheckpointError, "a folder, not a checkpoint"),
        "load(missing)": (lambda: api.load("missing.pt"), CheckpointError, "no such checkpoint"),
        "load(device=5)": (lambda: api.load(music, device=5), TypeError, "device must be"),
        "load(device='gpu')": (lambda: api.load(music, "gpu"), ValueError, "unknown device 'gpu'"),
        "bars='8'": (lambda: MusicRequest(bars="8"), TypeError, "bars must be a number, got '8'"),
        "num='2'": (lambda: MusicRequest(num="2"), TypeError, "num must be a whole number"),
        "num=True": (lambda: MusicRequest(num=True), TypeError, "num must be a whole number"),
        "num=0": (lambda: MusicRequest(num=0), ValueError, "number of variations must be"),
        "bars=-4": (lambda: MusicRequest(bars=-4), ValueError, "bars must be a number in (0, "),
        "bpm='fast'": (lambda: MusicRequest(bpm="fast"), TypeError, "bpm must be a number"),
        "primer=5": (lambda: MusicRequest(primer=5), TypeError, "primer must be a file path"),
        "style=3": (lambda: MusicRequest(style=3), TypeError, "style must be a style name"),
        "options=None": (lambda: MusicRequest(options=None), TypeError, "options must be a Sam"),
        "pitch_temperature='1'": (
            lambda: MusicRequest(pitch_temperature="1"),
            TypeError,
            "pitch_temperature must be a number",
        ),
        "temperature='0.5'": (
            lambda: SamplingOptions(temperature="0.5"),
            TypeError,
            "temperature must be a number, got '0.5' (str)",
        ),
        "greedy='no'": (lambda: SamplingOptions(greedy="no"), TypeError, "greedy must be True or"),
        "seed=1.5": (lambda: SamplingOptions(seed=1.5), TypeError, "seed must be a whole number"),
        "seed=2**70": (lambda: SamplingOptions(seed=2**70), ValueError, "seed must be a whole"),
        "length=0": (lambda: TextRequest(length=0), ValueError, "length must be a whole number"),
        "length='50'": (lambda: TextRequest(length="50"), TypeError, "length must be a whole"),
        "prime=None": (lambda: TextRequest(prime=None), TypeError, "prime must be a str"),
        "unit='words'": (lambda: TextRequest(unit="words"), ValueError, "unit must be one of"),
        "on_text=5": (lambda: TextRequest(on_text=5), TypeError, "on_text must be a function"),
        "frames='64'": (lambda: PianoRollRequest(frames="64"), TypeError, "frames must be a who"),
        "first_frame=60": (
            lambda: PianoRollRequest(first_frame=60),
            TypeError,
            "first_frame must be a sequence of notes",
        ),
        "sources='abc'": (lambda: TranslateRequest("abc"), TypeError, "sources must be a list"),
        "sources=[1]": (lambda: TranslateRequest([1]), TypeError, "sources[0] must be a text"),
        "beam=0": (lambda: TranslateRequest(["a"], beam=0), ValueError, "beam width must be"),
        "max_length=0": (
            lambda: TranslateRequest(["a"], max_length=0),
            ValueError,
            "max_length must be a whole number in [1, ",
        ),
        "melody='x.mid'": (lambda: HarmonizeRequest("x.mid"), TypeError, "melody must be a Part"),
        "candidates=0": (
            lambda: HarmonizeRequest(melody, candidates=0),
            ValueError,
            "candidates (best of N) must be",
        ),
        "beat=0": (lambda: HarmonizeRequest(melody, beat=0), ValueError, "beat must be a number"),
    }


CARELESS = _careless_calls()


@pytest.mark.parametrize("case", list(CARELESS))
def test_careless_input_to_the_api_is_a_clear_error_naming_the_argument(case):
    call, kind, message = CARELESS[case]
    with pytest.raises(kind) as error:
        call()
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_wrong_type_is_also_bad_input_for_the_cli_and_the_app():
    """WrongType is a TypeError and a ValueError: `main` and the app's UserErrors, which
    report ValueErrors in one line, report it too."""
    from generator.validation import WrongType

    with pytest.raises(ValueError):
        SamplingOptions(temperature="hot")
    assert issubclass(WrongType, TypeError)


def test_whole_numbers_given_as_floats_are_kept_as_int():
    from generator.api import MusicRequest

    request = MusicRequest(num=2.0, program=3.0, options=SamplingOptions(top_k=5.0))
    assert (request.num, request.program, request.options.top_k) == (2, 3, 5)
    assert all(type(x) is int for x in (request.num, request.program, request.options.top_k))
