"""The encoder-decoder family: Seq2Seq (bidirectional encoder, attention) over source → target
pairs.

One recipe, ``seq2seq``, reads either a folder of multi-track MIDI files (melody → voices on a
time grid: a harmonizer) or a TSV file of source<TAB>target text lines. Losses are in nats per
target token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.config import Seq2SeqConfig
from generator.data.harmony import VOICE_SETS, load_harmony_corpus
from generator.data.pairs import PairCorpus, load_tsv_pairs
from generator.families import Family, Recipe
from generator.midi.parts import Part
from generator.models.seq2seq import Seq2Seq
from generator.sampling import SamplingOptions
from generator.sampling.harmonize import harmonize
from generator.sampling.seq2seq import translate
from generator.tokenizers import CharTokenizer, SentencePieceTokenizer, Tokenizer
from generator.tokenizers.voice_grid import VoiceGridTokenizer
from generator.training.distributed import is_main_process
from generator.training.seq2seq_task import SEQ2SEQ_TASK, PairScore, score_pairs
from generator.validation import (
    MAX_TOKENS,
    check_beam,
    check_candidates,
    check_length_penalty,
    check_number,
    check_range,
    check_type,
)


@dataclass
class PairData:
    """How a MIDI folder or a TSV file becomes pairs (generator/data/{harmony,pairs}.py)."""

    valid_fraction: float = 0.1  # share of melodies / sources held out for validation
    voices: str = "atb"  # MIDI: the target voices, bass or atb (alto + tenor + bass)
    steps_per_beat: int = 2  # MIDI: time grid (2 = eighths)
    segment_beats: int = 16  # MIDI: beats per window (one training pair)
    hop_beats: int = 0  # MIDI: train windows start every N beats (0 = half a window)
    tokenizer: str = "char"  # TSV: char, or sentencepiece (trained on the data)
    vocab_size: int = 4000  # TSV, SentencePiece: most pieces (an upper bound)
    sp_model_type: str = "unigram"  # TSV, SentencePiece: unigram or bpe
    encoding: str = "utf-8"  # TSV: encoding of the file
    max_length: int = 512  # TSV: skip pairs longer than N tokens on a side


def is_midi_data(path: Path) -> bool:
    """A folder (of MIDI files) or a MIDI file: harmony pairs; anything else is a TSV file."""
    return path.is_dir() or path.suffix.lower() in (".mid", ".midi")


def read(
    data: Path,
    options: PairData,
    tokenizer: Tokenizer | None = None,
    seq_len: int = 0,
    progress: bool = False,
) -> PairCorpus:
    """The pairs of ``data``: harmony pairs from MIDI, or text pairs from a TSV file."""
    data = Path(data)
    if is_midi_data(data):
        if tokenizer is None:
            voices = VOICE_SETS[options.voices]
            tokenizer = VoiceGridTokenizer(options.steps_per_beat, voices, options.segment_beats)
        if not isinstance(tokenizer, VoiceGridTokenizer):
            raise ValueError(f"{data}: MIDI data, but the checkpoint is not a harmonizer")
        return load_harmony_corpus(
            data,
            tokenizer,
            valid_fraction=options.valid_fraction,
            hop_beats=options.hop_beats or None,
        )
    if not data.is_file():
        raise FileNotFoundError(f"{data}: no such file or folder")
    return load_tsv_pairs(
        data,
        tokenizer=tokenizer or options.tokenizer,
        vocab_size=options.vocab_size,
        sp_model_type=options.sp_model_type,
        encoding=options.encoding,
        valid_fraction=options.valid_fraction,
        max_length=options.max_length,
    )


def check(config: Seq2SeqConfig, corpus: PairCorpus) -> None:
    """A decoder aligned with the voices needs as many voices as the data has."""
    voices = len(getattr(corpus.tokenizer, "voices", []))
    if config.aligned_voices and config.aligned_voices != voices:
        raise ValueError(
            f"--aligned-voices {config.aligned_voices} must equal the number of target voices "
            f"({voices}; 0 for text pairs)"
        )


def score_text(score: PairScore, split: str) -> str:
    """A PairScore as lines: the whole, then each voice."""
    lines = [
        f"{split}: NLL {score.nll:.4f} nats/token, token accuracy {score.accuracy:.2%} "
        f"({score.tokens:,} target tokens in {score.pairs:,} pairs)"
    ]
    for name, voice in score.voices.items():
        lines.append(
            f"  {name}: NLL {voice['nll']:.4f} nats/token, accuracy {voice['accuracy']:.2%}, "
            f"onset accuracy {voice['onset_accuracy']:.2%}"
        )
    return "\n".join(lines)


def after(result: Any, corpus: PairCorpus, log: Callable[[str], None]) -> None:
    """Score the best model on the valid pairs and keep the scores in its info (rank 0)."""
    if not corpus.valid or not result.best_path.exists() or not is_main_process():
        return
    loaded = load_checkpoint(result.best_path)
    score = score_pairs(loaded.model, corpus.valid, corpus.tokenizer)
    log(score_text(score, "valid"))
    info = {**loaded.info, "valid_scores": score.to_dict()}
    save_checkpoint(result.best_path, loaded.model, loaded.tokenizer, info=info)


def evaluate(
    loaded: Any, corpus: PairCorpus, *, batch_size: int = 64, seq_len: int = 0, split="valid"
) -> PairScore:
    """Teacher-forced NLL and token accuracy on one split ("valid", "train" or "all")."""
    pairs = {"valid": corpus.valid, "train": corpus.train, "all": corpus.train + corpus.valid}
    chosen = pairs[split]
    if not chosen:
        raise ValueError(f"no {split} pairs to evaluate")
    return score_pairs(loaded.model, chosen, loaded.tokenizer, batch_size=batch_size)


@dataclass
class TranslateRequest:
    """Source texts to map to target texts with a text seq2seq model (one batch)."""

    sources: list[str]
    options: SamplingOptions | None = None
    beam: int = 1  # beam width (1 = sample or greedy with ``options``)
    length_penalty: float = 1.0  # beam: rank by log p / length^N
    max_length: int | None = None  # most target tokens (None = 2 × source + 10)

    def __post_init__(self) -> None:
        """Each field's type and range (WrongType, a TypeError, or ValueError naming it)."""
        check_type("sources", self.sources, (list, tuple), "a list of texts")
        for index, source in enumerate(self.sources):
            check_type(f"sources[{index}]", source, str, "a text (str)")
        _check_decoding(self)
        if check_number("max_length", self.max_length, whole=True, optional=True) is not None:
            self.max_length = check_range(
                "max_length", self.max_length, 1, MAX_TOKENS, integer=True
            )


@dataclass
class HarmonizeRequest:
    """A melody to put voices under with a harmonizer (see generator/sampling/harmonize.py)."""

    melody: Part
    beat: float = 1.0  # quarter notes per beat of the melody's meter
    options: SamplingOptions | None = None
    beam: int = 1
    length_penalty: float = 1.0
    rules: bool = True  # voice-leading rules as constraints
    candidates: int = 1  # voicings sampled per window; the likeliest is kept

    def __post_init__(self) -> None:
        """Each field's type and range (WrongType, a TypeError, or ValueError naming it)."""
        check_type("melody", self.melody, Part, "a Part (read_melody(path) gives one)")
        check_range("beat", check_number("beat", self.beat), 0, 16, low_open=True)
        _check_decoding(self)
        check_type("rules", self.rules, bool, "True or False")
        self.candidates = check_candidates(check_number("candidates", self.candidates, whole=True))


def _check_decoding(request: TranslateRequest | HarmonizeRequest) -> None:
    """The sampling options, beam width and length penalty both requests share."""
    check_type("options", request.options, SamplingOptions, "a SamplingOptions or None", True)
    request.beam = check_beam(check_number("beam", request.beam, whole=True))
    check_length_penalty(check_number("length_penalty", request.length_penalty))


def generate(loaded: Any, request: TranslateRequest | HarmonizeRequest):
    """Target texts for a TranslateRequest, voices for a HarmonizeRequest."""
    if isinstance(request, HarmonizeRequest):
        return harmonize(
            loaded,
            request.melody,
            options=request.options,
            beam=request.beam,
            length_penalty=request.length_penalty,
            rules=request.rules,
            candidates=request.candidates,
            beat=request.beat,
        )
    return translate(
        loaded,
        request.sources,
        options=request.options,
        beam=request.beam,
        length_penalty=request.length_penalty,
        max_length=request.max_length,
    )


def card_lines(config: dict, tokenizer: dict, corpus: dict) -> list[str]:
    """Tokenizer, attention, encoder, what maps to what, and the data."""
    encoder = "bidirectional" if config.get("bidirectional") else "forward-only"
    lines = [
        f"- **Tokenizer:** `{tokenizer.get('kind')}`, vocabulary {config.get('vocab_size')} ids",
        f"- **Encoder-decoder:** {encoder} encoder, attention `{config.get('attention')}`, "
        f"position embeddings {config.get('positions') or 'none'}, "
        f"teacher forcing {config.get('teacher_forcing')}",
    ]
    if tokenizer.get("voices"):  # a harmonizer: melody → voices on a grid
        lines.append(
            f"- **Task:** melody → {' + '.join(tokenizer['voices'])}, "
            f"{tokenizer['steps_per_beat']} grid steps per beat, windows of "
            f"{tokenizer['segment_beats']} beats"
        )
    if corpus.get("folder"):
        lines.append(
            f"- **Data:** `{corpus['folder']}`: {corpus.get('files_read')} files read, "
            f"{len(corpus.get('skipped', []))} skipped; split by melody "
            f"{corpus.get('train_files')} train / {corpus.get('valid_files')} valid files "
            f"({corpus.get('train_pairs')} / {corpus.get('valid_pairs')} windows)"
        )
    elif corpus.get("path"):
        lines.append(
            f"- **Data:** `{corpus['path']}`: {corpus.get('train_pairs')} train / "
            f"{corpus.get('valid_pairs')} valid pairs"
        )
    return lines


SEQ2SEQ = Recipe(
    name="seq2seq",
    title="encoder-decoder",
    data="training pairs",
    reads=("midi", "tsv"),
    tokenizers=(VoiceGridTokenizer, CharTokenizer, SentencePieceTokenizer),
    options=PairData,
    read=read,
    data_sets=("vocab_size",),
    data_fields=lambda tokenizer: {"vocab_size": tokenizer.vocab_size},
    task=SEQ2SEQ_TASK,
    describe_data=lambda tokenizer: f"from the data: vocabulary {tokenizer.vocab_size} ids",
    fixed_training={"style_dropout": 0.0},
    resume_tokenizer=True,
    check=check,
    train_info=lambda corpus, options: {"valid_fraction": options.valid_fraction},
    after=after,
    evaluate=evaluate,
)

FAMILY = Family(
    name="seq2seq",
    title="encoder-decoder",
    model_class=Seq2Seq,
    config_class=Seq2SeqConfig,
    unit="token",
    recipes=(SEQ2SEQ,),
    generate=generate,
    requests=(TranslateRequest, HarmonizeRequest),
    card_lines=card_lines,
    uses={VoiceGridTokenizer: "harmonize"},
)
