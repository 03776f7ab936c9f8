"""generator.api: the one road (load, train, generate, evaluate) for every recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator import api
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
