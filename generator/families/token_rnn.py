"""The token RNN family: RNNGenerator (tanh RNN / LSTM / GRU) over token ids.

Two recipes train it: ``music`` (a MIDI folder as event tokens, with styles and seed notes)
and ``text`` (text files as characters or SentencePiece pieces, read as contiguous streams).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.checkpoint import read_checkpoint
from generator.config import ModelConfig
from generator.data.midi_corpus import load_midi_corpus
from generator.data.pieces import TokenCorpus
from generator.data.text_corpus import MAX_VALID_TOKENS, load_text_corpus
from generator.data.windows import EpochPlan
from generator.evaluation.text import bits_per_character, evaluate_text, prediction_count
from generator.families import Family, Recipe
from generator.models import RNNGenerator
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music
from generator.sampling.text import MAX_LENGTH, UNITS, generate_text
from generator.tokenizers import (
    CharTokenizer,
    MidiEventTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    tokenizer_from_dict,
)
from generator.training.tasks import TEXT_TASK, TOKEN_TASK, TokenTask, sequence_unigram_nll
from generator.training.validate import evaluate
from generator.validation import check_number, check_range, check_type, check_variations

SEED_TOKENS = 128  # seed notes a music model can start from: every MIDI pitch
SEGMENT_WINDOWS = 16  # a text segment is this many training windows (minus one token)


# --- music -------------------------------------------------------------------------------


@dataclass
class MusicData:
    """How a MIDI folder becomes a token corpus (generator/data/midi_corpus.py)."""

    valid_fraction: float = 0.1  # share of files held out for validation
    cache_dir: Path | str | None = "default"  # token cache: "default" (~/.cache), a folder, None
    styles: str = "folders"  # where styles come from: folders, none, or a CSV file
    exclude: tuple[str, ...] = ()  # globs of files to leave out
    group_by: str = "name"  # keep versions of a tune on one side of the split: name or none


def read_music(
    data: Path,
    options: MusicData,
    tokenizer: MidiEventTokenizer | None = None,
    seq_len: int = 256,
    progress: bool = False,
) -> TokenCorpus:
    """A MIDI folder as event-token pieces (``tokenizer`` given: its styles and settings)."""
    return load_midi_corpus(
        data,
        tokenizer=tokenizer,
        valid_fraction=options.valid_fraction,
        cache_dir=options.cache_dir,
        progress=progress,
        styles=options.styles,
        exclude=tuple(options.exclude),
        group_by=options.group_by,
    )


def music_fields(tokenizer: MidiEventTokenizer) -> dict[str, Any]:
    """What the data sets in a music model: its vocabulary, styles and seed notes."""
    return {
        "vocab_size": tokenizer.vocab_size,
        "num_styles": len(tokenizer.styles),
        "num_seed_tokens": SEED_TOKENS,
    }


def describe_music(tokenizer: MidiEventTokenizer) -> str:
    return (
        f"from the data: vocabulary {tokenizer.vocab_size} ids, "
        f"{len(tokenizer.styles)} styles ({', '.join(tokenizer.styles) or 'none'}), "
        f"{len(tokenizer.meters)} meters ({', '.join(tokenizer.meters) or 'none'})"
    )


@dataclass
class MusicScore:
    """NLL of a music model on some MIDI files, and a unigram model's on the same files."""

    nats_per_token: float
    unigram_nats_per_token: float  # token frequencies of these very files (favours it)
    files: int


def evaluate_music(
    loaded: Any, corpus: TokenCorpus, *, batch_size: int = 16, seq_len: int = 256
) -> MusicScore:
    """Score every piece of ``corpus`` (train and valid alike) with the loaded music model."""
    pieces = corpus.train + corpus.valid
    if not pieces:
        raise ValueError("no pieces to evaluate")
    tokenizer = loaded.tokenizer
    plan = EpochPlan(pieces, tokenizer, min(batch_size, len(pieces)), seq_len, shuffle=False)
    nll = evaluate(loaded.model, plan, next(loaded.model.parameters()).device)
    ids = [(p.tokens, p.ends) for p in pieces]
    unigram = sequence_unigram_nll(ids, ids, tokenizer.vocab_size, tokenizer.eos_id)
    return MusicScore(nll, unigram, len(pieces))


def warm_start(path: Path, tokenizer: MidiEventTokenizer) -> tuple[ModelConfig, TokenTask]:
    """The model config and a training task whose model starts from ``path``'s weights (rows
    of ids that ``tokenizer`` adds at the end of the vocabulary start fresh), or ValueError."""
    import torch

    payload = read_checkpoint(path)
    old = tokenizer_from_dict(payload["tokenizer"])
    if not isinstance(old, MidiEventTokenizer) or payload["family"] != FAMILY.name:
        raise ValueError(f"{path}: not a music model")
    if old.styles != tokenizer.styles or old.settings_key() != tokenizer.settings_key():
        raise ValueError(
            f"{path}: its styles or token settings differ from the data's "
            f"({', '.join(old.styles)} vs {', '.join(tokenizer.styles)})"
        )
    if old.vocab_size > tokenizer.vocab_size:
        raise ValueError(f"{path}: its vocabulary is larger than the data's")

    class WarmStartTask(TokenTask):
        def build_model(self, config: ModelConfig) -> RNNGenerator:
            model = RNNGenerator(config)
            grown = model.state_dict()
            for name, weights in payload["model_state"].items():
                if weights.shape != grown[name].shape:  # vocabulary rows: old ids keep theirs
                    weights = torch.cat([weights, grown[name][weights.shape[0] :]])
                grown[name] = weights
            model.load_state_dict(grown, strict=True)
            return model

    config = ModelConfig.from_dict({**payload["model_config"], "vocab_size": tokenizer.vocab_size})
    return config, WarmStartTask()


# --- text --------------------------------------------------------------------------------


@dataclass
class TextData:
    """How text files become a token corpus (generator/data/text_corpus.py)."""

    valid_fraction: float = 0.1  # share of the text held out for validation
    tokenizer: str = "char"  # token unit: char, or sentencepiece (trained on the data)
    vocab_size: int = 4000  # SentencePiece: most pieces (an upper bound)
    sp_model_type: str = "unigram"  # SentencePiece: unigram or bpe
    encoding: str = "utf-8"  # encoding of the text files
    skip_bad_files: bool = False  # skip (and list) files that do not decode instead of stopping
    segment_len: int = 0  # cut texts into segments of at most N tokens (0 = 16 windows)
    max_valid_tokens: int = MAX_VALID_TOKENS  # validate on at most N held-out tokens (0 = all)


# What `train text --max-minutes` trains unless flags say otherwise: the recipe that reached the
# lowest held-out NLL for a fixed CPU budget (BENCHMARKS.md, "Text: the best recipe for a fixed
# CPU budget", benchmarks/text_vs_plain.py). ModelConfig, TrainConfig and TextData fields.
TEXT_BUDGET_RECIPE: dict[str, Any] = {
    "cell": "gru",
    "hidden_size": 256,
    "num_layers": 2,
    "embedding_size": 128,
    "dropout": 0.1,
    "io_dropout": False,
    "lr": 3e-3,
    "max_steps": 1_000_000,  # the clock ends the run; the schedule follows it
}


def segment_length(options: TextData, seq_len: int) -> int:
    """--segment-len, or whole training windows: SEGMENT_WINDOWS of ``seq_len`` (no padding)."""
    return options.segment_len or SEGMENT_WINDOWS * seq_len - 1


def read_text(
    data: Path,
    options: TextData,
    tokenizer: Tokenizer | None = None,
    seq_len: int = 256,
    progress: bool = False,
) -> TokenCorpus:
    """Text files as token pieces; the tokenizer is built from them unless one is given."""
    return load_text_corpus(
        data,
        tokenizer=tokenizer or options.tokenizer,
        vocab_size=options.vocab_size,
        sp_model_type=options.sp_model_type,
        encoding=options.encoding,
        skip_bad_files=options.skip_bad_files,
        valid_fraction=options.valid_fraction,
        segment_len=segment_length(options, seq_len),
        max_valid_tokens=options.max_valid_tokens,
        progress=progress,
    )


def text_fields(tokenizer: Tokenizer) -> dict[str, Any]:
    """Text models start from nothing: no styles, no seed notes."""
    return {"vocab_size": tokenizer.vocab_size, "num_styles": 0, "num_seed_tokens": 0}


def text_info(corpus: TokenCorpus, options: TextData) -> dict[str, Any]:
    # bits/char = best_valid_nll * valid_predictions / ln 2 / corpus.valid_characters
    return {"valid_predictions": prediction_count(corpus.valid)}


def text_after(result: Any, corpus: TokenCorpus, log: Callable[[str], None]) -> None:
    """The best validation loss in bits per character, one scale for every tokenizer."""
    if result.best_valid_nll is not None:
        valid_characters = corpus.report.valid_characters
        bpc = bits_per_character(result.best_valid_nll, corpus.valid, valid_characters)
        log(f"best valid: {bpc:.4f} bits per character")


@dataclass
class TextRequest:
    """Everything a user chooses about a batch of generated texts."""

    prime: str = ""  # text to continue
    length: int | None = 500  # new text to generate (None = until end of text)
    unit: str = "characters"  # of length: characters or tokens
    options: SamplingOptions = field(default_factory=SamplingOptions)
    num: int = 1  # samples, generated as one batch
    on_text: Callable[[int, str], None] | None = None  # streamed text of sample i
    on_end: Callable[[int], None] | None = None  # sample i has ended

    def __post_init__(self) -> None:
        """Each field's type and range (WrongType, a TypeError, or ValueError naming it)."""
        check_type("prime", self.prime, str, "a str")
        if check_number("length", self.length, whole=True, optional=True) is not None:
            self.length = check_range(
                "length", self.length, 0, MAX_LENGTH, integer=True, low_open=True
            )
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        check_type("options", self.options, SamplingOptions, "a SamplingOptions")
        self.num = check_variations(check_number("num", self.num, whole=True))
        for name in ("on_text", "on_end"):
            check_type(name, getattr(self, name), Callable, "a function or None", optional=True)


# --- the family --------------------------------------------------------------------------


def generate(loaded: Any, request: MusicRequest | TextRequest):
    """MIDI notes for a MusicRequest, text for a TextRequest."""
    if isinstance(request, TextRequest):
        return generate_text(
            loaded,
            request.prime,
            request.length,
            request.unit,
            request.options,
            request.num,
            on_text=request.on_text,
            on_end=request.on_end,
        )
    return generate_music(loaded, request)


def card_lines(config: dict, tokenizer: dict, corpus: dict) -> list[str]:
    """The tokenizer, the styles and the data of a token model."""
    lines = [
        f"- **Tokenizer:** `{tokenizer.get('kind')}`, vocabulary {config.get('vocab_size')} ids"
    ]
    if tokenizer.get("styles"):
        lines.append(f"- **Styles:** {', '.join(tokenizer['styles'])}")
    if corpus:
        lines.append(
            f"- **Data:** `{corpus.get('folder')}`: {corpus.get('files_read')} files read, "
            f"{len(corpus.get('skipped', []))} skipped; {corpus.get('notes', 0):,} notes, "
            f"{corpus.get('tokens', 0):,} tokens; split {corpus.get('train_pieces')} train / "
            f"{corpus.get('valid_pieces')} valid pieces (by file)"
        )
    return lines


MUSIC = Recipe(
    name="music",
    title="music",
    data="MIDI files",
    reads=("midi",),
    tokenizers=(MidiEventTokenizer,),
    options=MusicData,
    read=read_music,
    data_sets=("vocab_size", "num_styles", "num_seed_tokens"),
    data_fields=music_fields,
    task=TOKEN_TASK,
    describe_data=describe_music,
    warm_start=warm_start,
    evaluate=evaluate_music,
)

TEXT = Recipe(
    name="text",
    title="text",
    data="text files",
    reads=("text",),
    tokenizers=(CharTokenizer, SentencePieceTokenizer),
    options=TextData,
    read=read_text,
    data_sets=("vocab_size", "num_styles", "num_seed_tokens"),
    data_fields=text_fields,
    task=TEXT_TASK,
    describe_data=lambda tokenizer: f"from the data: vocabulary {tokenizer.vocab_size} ids",
    fixed_training={"transpose": 0, "style_dropout": 0.0},
    resume_tokenizer=True,
    holds_out_within_files=True,
    train_info=text_info,
    after=text_after,
    evaluate=evaluate_text,
)

FAMILY = Family(
    name="rnn",
    title="token RNN",
    model_class=RNNGenerator,
    config_class=ModelConfig,
    unit="token",
    recipes=(MUSIC, TEXT),
    generate=generate,
    requests=(MusicRequest, TextRequest),
    card_lines=card_lines,
    uses={MidiEventTokenizer: "compose", CharTokenizer: "write", SentencePieceTokenizer: "write"},
)

__all__ = [
    "FAMILY",
    "MUSIC",
    "SEED_TOKENS",
    "TEXT",
    "MusicData",
    "MusicScore",
    "TextData",
    "TextRequest",
    "evaluate_music",
    "warm_start",
]
