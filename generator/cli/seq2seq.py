"""The encoder-decoder's commands: ``python -m generator {train,evaluate,sample} seq2seq`` and
``python -m generator harmonize``.

Thin like every command module: parse flags, call the package, print results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.cli.common import (
    add_command,
    add_config_flags,
    add_model_flags,
    add_sampling_flags,
    add_threads_flag,
    add_tokenizer_flags,
    add_training_flags,
    command_line,
    config_from_args,
    data_set_fields,
    load_model,
    model_fields,
)
from generator.cli.notate import add_format_flags, write_scores
from generator.config import Seq2SeqConfig, TrainConfig
from generator.families.encoder_decoder import FAMILY, SEQ2SEQ, PairData, score_text

DATA_HELP = (
    "a folder of multi-track MIDI files (melody → other voices) or a TSV file of "
    "source<TAB>target lines"
)
DECODER = "the step-by-step decoder"
MELODY_RULE = (
    "The melody is the track named Soprano or Melody (any case), else the highest track "
    "(by mean pitch); --melody-track names another."
)


def add_parsers(commands, train_recipes, evaluate_what, sample_recipes) -> None:
    """Add ``seq2seq`` to train, evaluate and sample, and the ``harmonize`` command."""
    train = add_command(
        train_recipes,
        "seq2seq",
        _train,
        help="an encoder-decoder on pairs (melody harmonization or TSV text pairs)",
        description="Train an encoder-decoder with attention. With a MIDI folder: melody → "
        "--voices pairs on a time grid of --steps-per-beat steps, in windows of "
        "--segment-beats beats (the split keeps each melody on one side). With a TSV file: "
        "source<TAB>target lines, characters or SentencePiece. Writes the best model (by valid "
        "NLL per target token) to --out, the resumable state next to it (NAME.last.pt), and "
        "adds the valid scores of the best model to its info. " + MELODY_RULE,
    )
    add_training_flags(train, DATA_HELP, "share of melodies / sources held out")
    _add_music_flags(train)
    text = train.add_argument_group("text pairs (TSV)")
    add_tokenizer_flags(text)
    text.add_argument("--encoding", default="utf-8", help="encoding of the TSV file")
    text.add_argument(
        "--max-length", type=int, default=512, help="skip pairs longer than N tokens on a side"
    )
    add_threads_flag(train, DECODER)
    add_config_flags(train, Seq2SeqConfig, data_set_fields(SEQ2SEQ))
    add_config_flags(train, TrainConfig, {"seq_len", "style_dropout"})
    train.set_defaults(batch_size=64, eval_every=100, save_every=100)

    evaluate = add_command(
        evaluate_what,
        "seq2seq",
        _evaluate,
        help="NLL and token accuracy on held-out pairs",
        description="Reads --data with the checkpoint's tokenizer and the training split rule "
        "(same --valid-fraction), then scores --split with teacher forcing: NLL in nats per "
        "target token (EOS included) and the share of tokens the model ranks first; for music, "
        "the same per voice, and onset accuracy (only steps where the reference starts a note).",
    )
    add_model_flags(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    evaluate.add_argument("--split", choices=("valid", "train", "all"), default="valid")
    evaluate.add_argument(
        "--valid-fraction", type=float, default=0.1, help="as in training (defines the split)"
    )
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--encoding", default="utf-8", help="encoding of a TSV file")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--decode",
        type=int,
        default=0,
        metavar="BEAM",
        help="music: also decode every source (beam width; 1 = greedy, 0 = skip) and report "
        "per voice the share of sounding reference steps whose pitch the output matches",
    )
    evaluate.add_argument(
        "--heatmap", type=Path, default=None, help="also draw the attention of one pair (PNG)"
    )
    evaluate.add_argument("--example", type=int, default=0, help="which pair --heatmap draws")
    harmony = evaluate.add_argument_group("harmony (music; see evaluate harmony)")
    harmony.add_argument(
        "--harmony",
        action="store_true",
        help="also harmonize the whole melody of every file of --split and give the harmony "
        "metrics of the generated voices next to the files' own voices (e.g. Bach's)",
    )
    _add_harmonizer_flags(harmony)
    add_sampling_flags(evaluate)
    evaluate.set_defaults(temperature=0.7, seed=0)  # --harmony samples, repeatably
    add_threads_flag(evaluate, DECODER)

    sample = add_command(
        sample_recipes,
        "seq2seq",
        _sample,
        help="map source texts to target texts",
        description="Decode --source (or, with '-', every line of stdin) with a text seq2seq "
        "checkpoint; one output line per source. --beam N > 1 runs beam search (the sampling "
        "flags are then ignored); otherwise the sampling flags apply (--greedy for argmax).",
    )
    add_model_flags(sample)
    sample.add_argument("--source", required=True, help='source text; "-" reads lines of stdin')
    _add_decoding_flags(sample)
    sample.add_argument(
        "--max-length", type=int, default=0, help="most target tokens (0 = 2 × source + 10)"
    )
    sample.add_argument(
        "--heatmap", type=Path, default=None, help="draw the first source's attention (PNG)"
    )
    sample.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_flag(sample, DECODER)

    harmonize = add_command(
        commands,
        "harmonize",
        _harmonize,
        help="add voices under a melody (MIDI in, multi-track MIDI out)",
        description="Writes --out with the melody track exactly as read and one new track per "
        "voice of the harmonizer (e.g. Alto, Tenor, Bass), aligned with the melody on the "
        "model's time grid. Sampling at --temperature 0.7 by default (--seed makes it "
        "repeatable); beam search and --greedy favour long held notes. " + MELODY_RULE,
    )
    add_model_flags(harmonize, shipped="harmonizer")
    harmonize.add_argument("--melody", type=Path, required=True, help="MIDI file with the melody")
    harmonize.add_argument("--out", type=Path, required=True, help="MIDI file to write")
    harmonize.add_argument("--melody-track", default=None, help="name of the melody's track")
    harmonize.add_argument(
        "--bpm",
        type=float,
        default=None,
        help="one tempo for the output (default: the melody's tempo changes)",
    )
    _add_decoding_flags(harmonize)
    _add_harmonizer_flags(harmonize.add_argument_group("harmonizer"))
    harmonize.set_defaults(temperature=0.7)  # see generator/sampling/harmonize.py
    harmonize.add_argument(
        "--heatmap", type=Path, default=None, help="draw the first window's attention (PNG)"
    )
    add_threads_flag(harmonize, DECODER)
    add_format_flags(harmonize)


def _add_music_flags(parser: argparse.ArgumentParser) -> None:
    music = parser.add_argument_group("music pairs (MIDI folder)")
    music.add_argument(
        "--voices",
        choices=("bass", "atb"),
        default="atb",
        help="target: the bass, or alto + tenor + bass (by track name, else by pitch)",
    )
    music.add_argument("--steps-per-beat", type=int, default=2, help="time grid (2 = eighths)")
    music.add_argument(
        "--segment-beats", type=int, default=16, help="beats per window (one training pair)"
    )
    music.add_argument(
        "--hop-beats", type=int, default=0, help="train windows start every N beats (0 = half)"
    )


def _add_harmonizer_flags(group) -> None:
    group.add_argument(
        "--rules",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="forbid notes out of the voice's range, crossing or doubling the melody, crossing "
        "the voice above, dissonant with the melody on beats, parallel fifths/octaves "
        "(--no-rules: the model alone)",
    )
    group.add_argument(
        "--candidates",
        type=int,
        default=1,
        help="sample N voicings per window, keep the one the model finds most likely",
    )


def _add_decoding_flags(parser: argparse.ArgumentParser, beam: int = 1) -> None:
    add_sampling_flags(parser)
    group = parser.add_argument_group("beam search")
    group.add_argument("--beam", type=int, default=beam, help="beam width (1 = no beam search)")
    group.add_argument(
        "--length-penalty",
        type=float,
        default=1.0,
        help="beam: rank by log p / length^N (0 = raw log-probability)",
    )


def _pair_options(args: argparse.Namespace) -> PairData:
    """The --data reading flags as the recipe's options (those a command lacks: defaults)."""
    return config_from_args(PairData, args)


def _train(args: argparse.Namespace) -> int:
    from generator import api

    api.train(
        "seq2seq",
        args.data,
        args.out,
        model=model_fields(Seq2SeqConfig, args, SEQ2SEQ),
        training=config_from_args(TrainConfig, args),
        options=_pair_options(args),
        resume=args.resume,
        progress=not args.no_progress,
        info={"command": command_line(args)},
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from generator import api
    from generator.evaluation.harmony import pitch_agreement

    loaded = load_model(args)
    if not isinstance(loaded.model, FAMILY.model_class):
        raise ValueError(f"{args.checkpoint}: a {loaded.family!r} model, not a seq2seq model")
    corpus = api.read_data(SEQ2SEQ, args.data, _pair_options(args), tokenizer=loaded.tokenizer)
    print(corpus.report.summary(), file=sys.stderr)
    pairs = {"valid": corpus.valid, "train": corpus.train, "all": corpus.train + corpus.valid}
    chosen = pairs[args.split]
    if not chosen:
        print(f"error: no {args.split} pairs in {args.data}", file=sys.stderr)
        return 2
    score = api.evaluate(loaded, corpus, batch_size=args.batch_size, split=args.split)
    agreement = None
    if args.decode and hasattr(loaded.tokenizer, "voices"):
        agreement = pitch_agreement(loaded.model, chosen, loaded.tokenizer, beam=args.decode)
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": str(args.checkpoint),
                    "split": args.split,
                    **score.to_dict(),
                    "pitch_agreement": agreement,
                }
            )
        )
    else:
        print(score_text(score, args.split))
        if agreement is not None:
            shares = ", ".join(f"{name} {share:.2%}" for name, share in agreement.items())
            print(f"  decoded (beam {args.decode}): pitch agreement per voice: {shares}")
    if args.harmony:
        _evaluate_harmony(args, loaded, corpus)
    if args.heatmap is not None:
        pair = chosen[min(max(args.example, 0), len(chosen) - 1)]
        _heatmap_of_pair(loaded, pair, args.heatmap)
    return 0


def _evaluate_harmony(args: argparse.Namespace, loaded, corpus) -> None:
    """Harmonize every file of --split whole; print (or JSON) its metrics next to the files'."""
    from generator.data.midi_corpus import find_midi_files
    from generator.evaluation.harmony import evaluate_harmonizer

    if not hasattr(loaded.tokenizer, "voices") or not args.data.is_dir():
        raise ValueError("--harmony needs a harmonizer and a folder of MIDI files")
    held = set(corpus.valid_files)
    every = [str(p.relative_to(args.data)) for p in find_midi_files(args.data)]
    names = {
        "valid": sorted(held),
        "train": [n for n in every if n not in held],
        "all": every,
    }[args.split]
    report = evaluate_harmonizer(
        loaded,
        [args.data / name for name in names],
        options=_options(args),
        beam=1,
        rules=args.rules,
        candidates=args.candidates,
    )
    if args.json:
        print(json.dumps({"harmony": report.to_dict()}))
        return
    how = f"{'with' if args.rules else 'without'} voicing rules, best of {args.candidates}"
    print(report.model.summary(f"harmony of the generated voices ({how})"))
    if report.reference is not None:
        print(report.reference.summary("harmony of the files' own voices"))


def _heatmap_of_pair(loaded, pair, out: Path) -> None:
    """Decode one pair's source greedily (to its reference length) and draw the attention."""
    from generator.sampling.seq2seq import decode

    tokenizer = loaded.tokenizer
    result = decode(loaded.model, [pair.source], tokenizer, lengths=[len(pair.target)])[0]
    if result.attention is None:
        print(f"no heat map: {out} not written (this model has no attention)", file=sys.stderr)
        return
    _draw(tokenizer, pair.source, result, out, f"{pair.name}: greedy decoding")


def _draw(tokenizer, source, result, out: Path, title: str) -> None:
    from generator.render.attention import attention_labels, draw_attention

    source_labels, target_labels = attention_labels(tokenizer, source, result.tokens)
    draw_attention(
        result.attention,
        out,
        source_labels=source_labels,
        target_labels=target_labels,
        title=title,
    )
    print(f"attention heat map: {out}", file=sys.stderr)


def _options(args: argparse.Namespace):
    from generator.sampling import SamplingOptions

    return SamplingOptions(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)


def _sample(args: argparse.Namespace) -> int:
    from generator import api
    from generator.families.encoder_decoder import TranslateRequest

    if args.source == "-":
        sources = [line.rstrip("\r") for line in sys.stdin.read().split("\n") if line.strip()]
    else:
        sources = [args.source]
    loaded = load_model(args)
    request = TranslateRequest(
        sources,
        options=_options(args),
        beam=args.beam,
        length_penalty=args.length_penalty,
        max_length=args.max_length or None,
    )
    results = api.generate(loaded, request)
    if args.json:
        rows = [
            {"source": r.source, "target": r.text, "log_prob": r.decoded.log_prob} for r in results
        ]
        print(json.dumps({"results": rows, "beam": args.beam}))
    else:
        for result in results:
            print(result.text)
    if args.heatmap is not None and results:
        first = results[0]
        if first.decoded.attention is None:
            print("no heat map: this model has no attention", file=sys.stderr)
        else:
            source_ids = loaded.tokenizer.encode(first.source)
            _draw(loaded.tokenizer, source_ids, first.decoded, args.heatmap, repr(first.source))
    return 0


def _harmonize(args: argparse.Namespace) -> int:
    from generator import api
    from generator.families.encoder_decoder import HarmonizeRequest
    from generator.sampling.harmonize import melody_beat, read_melody, read_timing, write_harmony

    if Path(args.out).resolve() == Path(args.melody).resolve():
        raise ValueError(f"--out {args.out} is the melody file: write the harmony elsewhere")
    loaded = load_model(args)
    melody, _ = read_melody(args.melody, args.melody_track)
    timing = read_timing(args.melody)
    request = HarmonizeRequest(
        melody,
        beat=melody_beat(timing),
        options=_options(args),
        beam=args.beam,
        length_penalty=args.length_penalty,
        rules=args.rules,
        candidates=args.candidates,
    )
    result = api.generate(loaded, request)
    path = write_harmony(result, args.out, bpm=args.bpm, timing=timing)
    counts = ", ".join(f"{name} {len(notes)}" for name, notes in result.voices.items())
    print(f"{path}  (melody {melody.name or 'track'!r} {len(melody.notes)} notes; {counts} notes)")
    for score in write_scores(args, [path], steps_per_beat=12, like=args.melody):  # melody as read
        print(score)
    print(
        f"harmonized {result.settings['windows']} windows of "
        f"{loaded.tokenizer.segment_beats} beats in {result.sampling_seconds:.2f} s "
        f"(beam {args.beam})",
        file=sys.stderr,
    )
    if args.heatmap is not None and result.decoded[0].attention is not None:
        _draw(loaded.tokenizer, result.sources[0], result.decoded[0], args.heatmap, "window 1")
    return 0
