"""The text commands end to end: train, sample (stdin prime, several samples, JSON), evaluate."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from generator.checkpoint import read_checkpoint, save_checkpoint
from generator.cli import main
from generator.config import MODEL_SIZES, ModelConfig, TrainConfig
from generator.families.token_rnn import TEXT_BUDGET_RECIPE
from generator.models import RNNGenerator
from generator.tokenizers import MidiEventTokenizer

TINY = [
    "--cell", "gru", "--embedding-size", "8", "--hidden-size", "16", "--layers", "1",
    "--dropout", "0", "--batch-size", "2", "--seq-len", "16", "--max-steps", "4",
    "--warmup-steps", "0", "--eval-every", "2", "--save-every", "2", "--log-every", "2",
    "--device", "cpu", "--no-progress",
]  # fmt: skip
TEXT = "It was a dark and stormy night; the rain fell in torrents.\n" * 30


def make_corpus(folder: Path) -> Path:
    (folder / "part").mkdir(parents=True)
    (folder / "one.txt").write_text(TEXT, encoding="utf-8")
    (folder / "part" / "two.md").write_text(TEXT.upper(), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def char_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    out = base / "char.pt"
    assert (
        main(["train", "text", "--data", str(make_corpus(base / "data")), "--out", str(out), *TINY])
        == 0
    )
    return out


def test_train_writes_a_checkpoint_and_reports_the_corpus(char_checkpoint: Path) -> None:
    best = read_checkpoint(char_checkpoint)
    corpus = best["info"]["corpus"]  # the report, as the checkpoint keeps it
    assert corpus["files_found"] == 2 and corpus["files_read"] == 2, corpus
    assert corpus["characters"] == 2 * len(TEXT) and not corpus["skipped"], corpus
    alphabet = set(TEXT) | set(TEXT.upper())
    assert best["tokenizer"]["kind"] == "characters"
    assert set(best["tokenizer"]["alphabet"]) == alphabet
    last = read_checkpoint(char_checkpoint.with_suffix(".last.pt"))
    assert last["train_state"]["step"] == 4  # --max-steps 4, resumable


def test_train_prints_what_the_data_determined(tmp_path: Path, capsys) -> None:
    data = make_corpus(tmp_path / "data")
    assert main(["train", "text", "--data", str(data), "--out", str(tmp_path / "m.pt"), *TINY]) == 0
    err = capsys.readouterr().err
    assert "2 text files found, 2 read" in err
    assert f"{2 * len(TEXT):,} characters" in err
    assert "vocabulary" in err and "bits per character" in err


def test_sample_streams_prime_and_continuation(char_checkpoint: Path, capsys) -> None:
    args = ["sample", "text", "--checkpoint", str(char_checkpoint), "--length", "40"]
    assert main([*args, "--prime", "It was", "--seed", "1", "--num", "3"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    samples = out[:-1].split("\n" + "-" * 40 + "\n")
    assert len(samples) == 3
    assert all(s.startswith("It was") and len(s) == len("It was") + 40 for s in samples)


def test_prime_from_stdin(char_checkpoint: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("The wind\n"))
    args = ["sample", "text", "--checkpoint", str(char_checkpoint), "--prime", "-", "--json"]
    assert main([*args, "--length", "25", "--greedy"]) == 0
    result = json.loads(capsys.readouterr().out)
    sample = result["samples"][0]
    assert result["settings"]["prime"] == "The wind"  # echo's trailing newline dropped
    assert sample["text"] == "The wind" + sample["generated"]
    assert len(sample["generated"]) == 25
    assert result["settings"]["greedy"] is True
    assert result["timing"]["seconds"] > 0


def test_json_output_is_one_object_with_every_sample(char_checkpoint: Path, capsys) -> None:
    args = ["sample", "text", "--checkpoint", str(char_checkpoint), "--json", "--num", "2"]
    assert main([*args, "--length", "7", "--unit", "tokens", "--seed", "3", "--top-k", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [s["tokens"] for s in result["samples"]] == [7, 7]
    assert result["settings"]["top_k"] == 5 and result["settings"]["unit"] == "tokens"


def test_unknown_prime_characters_warn_but_sample(char_checkpoint: Path, capsys) -> None:
    args = ["sample", "text", "--checkpoint", str(char_checkpoint), "--length", "5"]
    assert main([*args, "--prime", "stormé ☃"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("stormé ☃")
    assert "dropped: 'é☃'" in captured.err


def test_evaluate_prints_nats_per_token_and_bits_per_character(
    char_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(TEXT[:500], encoding="utf-8")
    args = ["evaluate", "text", "--checkpoint", str(char_checkpoint), "--data", str(held_out)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "nats/token" in out and "bits/character" in out and "500 characters" in out


def test_sentencepiece_checkpoint_samples_after_the_corpus_is_deleted(
    tmp_path: Path, capsys
) -> None:
    data = make_corpus(tmp_path / "data")
    out = tmp_path / "sp.pt"
    train = ["train", "text", "--data", str(data), "--out", str(out), *TINY]
    assert main([*train, "--tokenizer", "sentencepiece", "--vocab-size", "300"]) == 0
    shutil.rmtree(data)
    sample = ["sample", "text", "--checkpoint", str(out), "--prime", "It was", "--json"]
    assert main([*sample, "--length", "30", "--seed", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["samples"][0]["generated"]) == 30
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("It was a dark night.\n", encoding="utf-8")
    assert main(["evaluate", "text", "--checkpoint", str(out), "--data", str(held_out)]) == 0
    assert "bits/character" in capsys.readouterr().out


def test_bad_encoding_and_empty_corpus_are_clear_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.txt").write_bytes(b"abc\x80def")
    train = ["train", "text", "--out", str(tmp_path / "m.pt"), *TINY]
    assert main([*train, "--data", str(tmp_path / "bad")]) == 2
    assert "x.txt: not valid utf-8 at byte 3" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("")
    assert main([*train, "--data", str(tmp_path / "empty")]) == 2
    assert "no text to use" in capsys.readouterr().err


def test_a_music_checkpoint_is_refused_by_the_text_commands(tmp_path: Path, capsys) -> None:
    tokenizer = MidiEventTokenizer()
    model = RNNGenerator(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_layers=1))
    path = save_checkpoint(tmp_path / "music.pt", model, tokenizer)
    assert main(["sample", "text", "--checkpoint", str(path)]) == 2
    assert "not a text model" in capsys.readouterr().err


def test_resume_keeps_the_tokenizer_of_the_run(tmp_path: Path) -> None:
    data = make_corpus(tmp_path / "data")
    out = tmp_path / "m.pt"
    train = ["train", "text", "--data", str(data), "--out", str(out), *TINY]
    assert main(train) == 0
    alphabet = read_checkpoint(out.with_suffix(".last.pt"))["tokenizer"]["alphabet"]
    (data / "new.txt").write_text("Zebras quizzed 🦓 vexing jokes\n" * 5, encoding="utf-8")
    assert main([*train, "--resume", "--max-steps", "6"]) == 0  # the last --max-steps wins
    state = read_checkpoint(out.with_suffix(".last.pt"))
    assert state["train_state"]["step"] == 6
    assert state["tokenizer"]["alphabet"] == alphabet  # new characters are UNK, not new ids


def test_train_validates_on_a_capped_share_and_says_so(tmp_path: Path, capsys) -> None:
    data = make_corpus(tmp_path / "data")
    out = tmp_path / "m.pt"
    args = ["train", "text", "--data", str(data), "--out", str(out), "--max-valid-tokens", "100"]
    assert main([*args, *TINY, "--valid-fraction", "0.5"]) == 0
    err = capsys.readouterr().err
    assert "validating on 100 of" in err and "held-out tokens" in err
    corpus = read_checkpoint(out)["info"]["corpus"]
    assert corpus["valid_tokens"] == 100 < corpus["held_out_tokens"]
    assert corpus["valid_characters"] == 100
    assert main([*args[:-1], "-5", *TINY]) == 2
    assert "--max-valid-tokens must be a whole number" in capsys.readouterr().err


def test_evaluate_split_valid_scores_exactly_the_text_training_held_out(
    char_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    text = "".join(f"line {i}: the rain fell in torrents.\n" for i in range(40))
    whole = tmp_path / "whole.txt"
    whole.write_text(text, encoding="utf-8")
    tail = tmp_path / "tail" / "whole.txt"  # the last 10% of the file, as train text cuts it
    tail.parent.mkdir()
    tail.write_text(text[len(text) - len(text) // 10 :], encoding="utf-8")

    def score(data: Path, *split: str) -> str:
        args = ["evaluate", "text", "--checkpoint", str(char_checkpoint), "--data", str(data)]
        assert main([*args, *split]) == 0
        return capsys.readouterr().out.splitlines()[0]

    valid = score(whole, "--split", "valid")
    assert f"held-out part of 1 file ({len(text) // 10 + 1:,} tokens, " in valid
    assert valid.split(" on ")[0] == score(tail).split(" on ")[0]  # the same NLL, to the digit
    assert score(whole, "--split", "train") != valid
    args = ["evaluate", "text", "--checkpoint", str(char_checkpoint), "--data", str(whole)]
    assert main([*args, "--split", "valid", "--valid-fraction", "0"]) == 2
    assert "no valid text to score" in capsys.readouterr().err


def _trained_with(tmp_path: Path, capsys, *flags: str) -> tuple[dict, str]:
    """The model config and train config a short `train text` run with ``flags`` records."""
    out = tmp_path / f"m{len(list(tmp_path.glob('*.pt')))}.pt"
    data = make_corpus(tmp_path / "data") if not (tmp_path / "data").exists() else tmp_path / "data"
    base = ["train", "text", "--data", str(data), "--out", str(out), "--max-steps", "1"]
    quick = ["--batch-size", "2", "--seq-len", "8", "--eval-every", "1", "--no-progress"]
    assert main([*base, *quick, "--device", "cpu", *flags]) == 0
    saved = read_checkpoint(out.with_suffix(".last.pt"))
    return {
        **saved["model_config"],
        **saved["train_state"]["train_config"],
    }, capsys.readouterr().err


def test_max_minutes_trains_the_budget_recipe_and_flags_given_win(tmp_path: Path, capsys) -> None:
    recipe = {k: v for k, v in TEXT_BUDGET_RECIPE.items() if k != "max_steps"}  # given: 1
    config, log = _trained_with(tmp_path, capsys, "--max-minutes", "5")
    assert {k: config[k] for k in recipe} == recipe and config["max_steps"] == 1
    assert "--max-minutes 5: the budget recipe" in log and "--no-io-dropout" in log
    plain, log = _trained_with(tmp_path, capsys)  # no time budget: the config classes' defaults
    defaults = {**ModelConfig().to_dict(), **dataclasses.asdict(TrainConfig())}
    assert {k: plain[k] for k in recipe} == {k: defaults[k] for k in recipe}
    assert "budget recipe" not in log
    given, _ = _trained_with(
        tmp_path, capsys, "--max-minutes", "5", "--size", "small", "--lr", "1e-3"
    )
    assert given["hidden_size"] == MODEL_SIZES["small"]["hidden_size"] and given["lr"] == 1e-3
    assert given["cell"] == recipe["cell"]  # what neither --size nor a flag set


def test_resume_continues_a_budget_run_as_it_was_and_names_flags_it_ignores(
    tmp_path: Path, capsys
) -> None:
    data = make_corpus(tmp_path / "data")
    out = tmp_path / "run.pt"
    base = ["train", "text", "--data", str(data), "--out", str(out), "--no-progress"]
    quick = ["--batch-size", "2", "--seq-len", "8", "--eval-every", "1", "--device", "cpu"]
    assert main([*base, *quick, "--max-minutes", "5", "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main([*base, "--resume", "--max-steps", "3", "--hidden-size", "32", "--lr", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "ignored: --hidden-size 32, --lr 0.1" in err
    saved = read_checkpoint(out.with_suffix(".last.pt"))
    config = {**saved["model_config"], **saved["train_state"]["train_config"]}
    assert saved["train_state"]["step"] == 3 and config["max_minutes"] == 5  # the run's clock
    assert config["hidden_size"] == TEXT_BUDGET_RECIPE["hidden_size"] and config["lr"] == 3e-3
