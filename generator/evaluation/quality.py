"""The music-quality report: generated pieces against real ones, feature by feature, plus the
copy check. ``python -m generator evaluate quality`` prints it; benchmarks call it directly.

Meter: each piece is measured in its own time signature (the file's first one), as
``features.py`` defines bars and beats: a 6/8 bar is six eighths (3 quarter notes) and its beat
a dotted quarter; a piece without a time signature (or without ``meters`` given) has bars of
``beats_per_bar`` quarter notes and quarter-note beats.

quality ratio = mean overlap area (generated vs reference, over the features)
                / mean ceiling (reference half vs half, over the same features)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generator.data.midi_corpus import CorpusReport, find_midi_files, split_groups, style_of
from generator.data.pieces import Piece
from generator.evaluation.copying import RUN_LENGTH, CopyReport, copy_check
from generator.evaluation.features import (
    FEATURES,
    clip_notes,
    outside_range,
    piece_features,
)
from generator.evaluation.overlap import ceiling, feature_overlap, present
from generator.midi.notes import MidiReadError, Note, read_file_notes

SPLITS = ("all", "train", "valid")
_NO_TOKENS = np.zeros(0, dtype=np.int32)  # the split needs only names


@dataclass
class QualityOptions:
    """How pieces are measured and compared."""

    grid_per_beat: int = 2  # grid positions per quarter note for on_grid (2: eighth notes)
    beats_per_bar: int = 4  # quarter notes per bar of a piece without a time signature
    max_beats: float | None = None  # compare only the first beats of each piece (None: all)
    run_length: int = RUN_LENGTH  # notes per window in the copy check
    ceiling_splits: int = 50  # random halvings of the reference averaged for the ceiling
    seed: int = 0  # random seed of the halvings


@dataclass
class MidiFolder:
    """The readable MIDI files under a folder (names relative to it) and the skipped ones."""

    folder: Path
    pieces: dict[str, list[Note]]  # relative name → notes
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative name, reason)
    meters: dict[str, str] = field(default_factory=dict)  # relative name → "6/8" ("": none)

    def meters_of(self, names) -> list[str]:
        """The first time signature of each named piece ("" where the file has none)."""
        return [self.meters.get(name, "") for name in names]

    def select(
        self, style: str | None = None, split: str = "all", valid_fraction: float = 0.1
    ) -> dict[str, list[Note]]:
        """The pieces of one style (first-level subfolder) and one side of the training code's
        split: the whole folder split as ``train --data FOLDER`` splits it (split_pieces, by a
        hash of the name relative to the folder), then the style's pieces kept."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: use one of {', '.join(SPLITS)}")
        names = list(self.pieces)
        if split != "all":
            pieces = [Piece(name, _NO_TOKENS) for name in names]
            report = CorpusReport(folder=str(self.folder))  # what the split counts: unused here
            sides = split_groups(pieces, valid_fraction, "name", report)
            names = [p.name for p in sides[split == "valid"]]
        return {
            name: self.pieces[name]
            for name in names
            if style is None or style_of(Path(name)) == style
        }


def read_folder(folder: str | Path, what: str = "folder") -> MidiFolder:
    """Read every MIDI file under ``folder``; unreadable or empty files are skipped with the
    reason. ValueError naming ``what`` and the folder when it is missing or has no MIDI file."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise ValueError(f"{what} {folder}: no such folder")
    files = find_midi_files(folder)
    if not files:
        raise ValueError(f"{what} {folder}: no .mid or .midi files in it")
    root = folder if folder.is_dir() else folder.parent
    result = MidiFolder(folder, {})
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            read = read_file_notes(path)
        except MidiReadError as error:
            result.skipped.append((name, error.reason))
            continue
        if len(read):
            result.pieces[name] = read.notes
            result.meters[name] = read.meter
        else:
            result.skipped.append((name, "no notes"))
    return result


@dataclass
class FeatureRow:
    """One feature's line of the table."""

    name: str
    kind: str
    generated_mean: float  # mean per-piece value (scalars; NaN for histograms)
    reference_mean: float
    overlap: float  # generated vs reference
    ceiling: float  # reference half vs half

    @property
    def ratio(self) -> float:
        return self.overlap / self.ceiling if self.ceiling > 0 else math.nan


@dataclass
class QualityReport:
    """Everything ``evaluate quality`` prints; ``to_dict`` for JSON."""

    samples: int
    reference: int
    rows: list[FeatureRow]
    reference_range: tuple[int, int]  # lowest and highest reference pitch
    stray_notes: int  # sample notes outside the reference range
    stray_pieces: int  # samples with at least one such note
    sample_notes: int
    empty_samples: int  # samples with no notes (left out of everything)
    copy_samples: CopyReport | None = None
    copy_reference: CopyReport | None = None
    train_pieces: int = 0
    train_range: tuple[int, int] | None = None  # lowest and highest training pitch
    train_stray_notes: int = 0  # sample notes outside the training range
    options: QualityOptions = field(default_factory=QualityOptions)
    values: dict[str, tuple[list, list]] = field(default_factory=dict, repr=False)
    sample_meters: dict[str, int] = field(default_factory=dict)  # "6/8" → pieces measured in it
    reference_meters: dict[str, int] = field(default_factory=dict)

    @property
    def mean_overlap(self) -> float:
        return float(np.nanmean([r.overlap for r in self.rows]))

    @property
    def mean_ceiling(self) -> float:
        return float(np.nanmean([r.ceiling for r in self.rows]))

    @property
    def quality_ratio(self) -> float:
        return self.mean_overlap / self.mean_ceiling

    @property
    def lowest_overlap(self) -> FeatureRow:
        return min(self.rows, key=lambda r: r.overlap if not math.isnan(r.overlap) else 2.0)

    def table(self) -> str:
        """A readable plain-text table."""
        lines = [
            f"{self.samples} samples against {self.reference} reference pieces"
            + (f" (first {self.options.max_beats:g} beats)" if self.options.max_beats else ""),
            f"{'feature':<22} {'samples':>8} {'reference':>9} {'overlap':>8} {'ceiling':>8} "
            f"{'ratio':>6}",
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<22} {_num(r.generated_mean):>8} {_num(r.reference_mean):>9} "
                f"{_num(r.overlap):>8} {_num(r.ceiling):>8} {_num(r.ratio):>6}"
            )
        lines.insert(1, self.meters_line())
        lines.append(
            f"{'mean':<22} {'':>8} {'':>9} {_num(self.mean_overlap):>8} "
            f"{_num(self.mean_ceiling):>8} {_num(self.quality_ratio):>6}  <- quality ratio"
        )
        low, high = self.reference_range
        lines.append(
            f"stray notes: {self.stray_notes} of {self.sample_notes} sample notes in "
            f"{self.stray_pieces} pieces lie outside the reference range {low}-{high}"
        )
        if self.train_range is not None:
            low, high = self.train_range
            lines.append(
                f"             {self.train_stray_notes} lie outside the training range {low}-{high}"
            )
        if self.empty_samples:
            lines.append(f"empty samples (no notes, left out): {self.empty_samples}")
        if self.copy_samples is not None and self.copy_reference is not None:
            n = self.options.run_length
            lines.append(
                f"copy check ({n}-note pitch runs found in {self.train_pieces} training pieces):"
            )
            for label, copy in (("samples", self.copy_samples), ("reference", self.copy_reference)):
                d = copy.to_dict()
                lines.append(
                    f"  {label:<9} {100 * d['copied_share']:5.1f}% copied "
                    f"(any key {100 * d['copied_share_any_key']:5.1f}%), longest run "
                    f"{d['longest_copied_run']} notes (median per piece "
                    f"{d['median_longest_copied_run']:g}; any key "
                    f"{d['longest_copied_run_any_key']})"
                )
        return "\n".join(lines)

    def meters_line(self) -> str:
        """How bars and beats were counted, and in which meters."""

        def counts(meters: dict[str, int]) -> str:
            return ", ".join(f"{meter} ×{n}" for meter, n in meters.items()) or "-"

        return (
            "bars and beats in each piece's meter (6/8: bars of 6 eighths, dotted-quarter "
            f"beats; none: {self.options.beats_per_bar}/4) - samples "
            f"{counts(self.sample_meters)}; reference {counts(self.reference_meters)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "reference": self.reference,
            "meters": {"samples": self.sample_meters, "reference": self.reference_meters},
            "features": {
                r.name: {
                    "kind": r.kind,
                    "samples_mean": _json(r.generated_mean),
                    "reference_mean": _json(r.reference_mean),
                    "overlap": _json(r.overlap),
                    "ceiling": _json(r.ceiling),
                    "ratio": _json(r.ratio),
                }
                for r in self.rows
            },
            "mean_overlap": _json(self.mean_overlap),
            "mean_ceiling": _json(self.mean_ceiling),
            "quality_ratio": _json(self.quality_ratio),
            "lowest_overlap": {
                "feature": self.lowest_overlap.name,
                "overlap": _json(self.lowest_overlap.overlap),
            },
            "reference_range": list(self.reference_range),
            "stray_notes": self.stray_notes,
            "stray_pieces": self.stray_pieces,
            "train_range": None if self.train_range is None else list(self.train_range),
            "train_stray_notes": self.train_stray_notes,
            "sample_notes": self.sample_notes,
            "empty_samples": self.empty_samples,
            "copy_check": None
            if self.copy_samples is None
            else {
                "train_pieces": self.train_pieces,
                "samples": _json_dict(self.copy_samples.to_dict()),
                "reference": _json_dict(self.copy_reference.to_dict()),
            },
            "options": vars(self.options),
        }


def _num(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _json(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def _json_dict(d: dict) -> dict:
    return {k: _json(v) if isinstance(v, float) else v for k, v in d.items()}


def evaluate_quality(
    samples: Sequence[Sequence[Note]],
    reference: Sequence[Sequence[Note]],
    train: Sequence[Sequence[Note]] | None = None,
    options: QualityOptions | None = None,
    *,
    sample_meters: Sequence[str | None] | None = None,
    reference_meters: Sequence[str | None] | None = None,
) -> QualityReport:
    """Compare generated ``samples`` with real ``reference`` pieces feature by feature; with
    ``train``, also the copy check of both sets against it. ``sample_meters`` and
    ``reference_meters`` give each piece's time signature ("6/8"; None or "": none, bars of
    ``options.beats_per_bar`` quarter notes), in the order of the pieces."""
    options = options or QualityOptions()
    samples = _with_meters(samples, sample_meters, options.max_beats)
    reference = [
        (p, m) for p, m in _with_meters(reference, reference_meters, options.max_beats) if p
    ]
    if not reference:
        raise ValueError("the reference set has no pieces with notes")
    played = [(p, m) for p, m in samples if p]
    if not played:
        raise ValueError("the samples have no notes")

    def measure(pieces):
        return [
            piece_features(
                p,
                grid_per_beat=options.grid_per_beat,
                beats_per_bar=options.beats_per_bar,
                meter=meter,
            )
            for p, meter in pieces
        ]

    def meters(pieces) -> dict[str, int]:
        return dict(Counter(meter or "none" for _, meter in pieces).most_common())

    generated_features, reference_features = measure(played), measure(reference)
    sample_meter_counts, reference_meter_counts = meters(played), meters(reference)
    played = [p for p, _ in played]
    reference = [p for p, _ in reference]
    rows, values = [], {}
    for feature in FEATURES:
        mine = [f[feature.name] for f in generated_features]
        theirs = [f[feature.name] for f in reference_features]
        values[feature.name] = (mine, theirs)
        scalar = feature.kind == "scalar"
        rows.append(
            FeatureRow(
                feature.name,
                feature.kind,
                _mean(mine) if scalar else math.nan,
                _mean(theirs) if scalar else math.nan,
                feature_overlap(feature, mine, theirs),
                ceiling(feature, theirs, splits=options.ceiling_splits, seed=options.seed),
            )
        )
    pitches = [n.pitch for p in reference for n in p]
    low, high = min(pitches), max(pitches)
    strays = [outside_range(p, low, high) for p in played]
    report = QualityReport(
        samples=len(played),
        reference=len(reference),
        rows=rows,
        reference_range=(low, high),
        stray_notes=sum(strays),
        stray_pieces=sum(1 for s in strays if s),
        sample_notes=sum(len(p) for p in played),
        empty_samples=len(samples) - len(played),
        options=options,
        values=values,
        sample_meters=sample_meter_counts,
        reference_meters=reference_meter_counts,
    )
    if train is not None:
        if not train:
            raise ValueError("the training set for the copy check has no pieces")
        report.copy_samples = copy_check(played, train, options.run_length)
        report.copy_reference = copy_check(reference, train, options.run_length)
        report.train_pieces = len(train)
        train_pitches = [n.pitch for p in train for n in p]
        report.train_range = (min(train_pitches), max(train_pitches))
        report.train_stray_notes = sum(outside_range(p, *report.train_range) for p in played)
    return report


def _with_meters(pieces, meters, max_beats) -> list[tuple[list[Note], str | None]]:
    """(the piece cut to ``max_beats``, its meter) for each piece."""
    if meters is None:
        meters = [None] * len(pieces)
    if len(meters) != len(pieces):
        raise ValueError(f"{len(meters)} meters for {len(pieces)} pieces")
    return [(clip_notes(p, max_beats), m or None) for p, m in zip(pieces, meters, strict=True)]


def _mean(values: list) -> float:
    kept = present(values)
    return float(np.mean(kept)) if kept else math.nan


def write_plots(report: QualityReport, folder: str | Path, title: str = "") -> list[Path]:
    """One PNG per feature: the samples' and the reference's per-piece values (scalars) or mean
    histograms (histogram features), overlaid. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from generator.evaluation.features import LARGEST_INTERVAL, LENGTH_CLASSES

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for row in report.rows:
        mine, theirs = (present(v) for v in report.values[row.name])
        figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
        if row.kind == "scalar":
            both = np.array(mine + theirs, dtype=float)
            if np.all(both == np.round(both)) and np.ptp(both) <= 60:  # counts: one bar each
                bins = np.arange(both.min() - 0.5, both.max() + 1.5)
            else:
                bins = np.histogram_bin_edges(both, bins=30)
            axes.hist(theirs, bins=bins, density=True, alpha=0.5, label="reference")
            axes.hist(mine, bins=bins, density=True, alpha=0.5, label="samples")
            axes.set_xlabel(row.name)
        else:
            if row.name == "interval_histogram":
                ticks = np.arange(-LARGEST_INTERVAL, LARGEST_INTERVAL + 1)
                labels = [str(t) for t in ticks]
            else:
                ticks = np.arange(len(LENGTH_CLASSES))
                labels = [f"{c:.3g}" for c in LENGTH_CLASSES]
            for values, label, shift in ((theirs, "reference", -0.2), (mine, "samples", 0.2)):
                if values:
                    axes.bar(
                        np.arange(len(ticks)) + shift, np.mean(values, axis=0), 0.4, label=label
                    )
            axes.set_xticks(np.arange(len(ticks)), labels, fontsize=7, rotation=90)
            axes.set_ylabel("share")
        axes.set_title(
            f"{title} {row.name}: overlap {_num(row.overlap)}, ceiling {_num(row.ceiling)}"
        )
        axes.legend()
        figure.tight_layout()
        path = folder / f"{row.name}.png"
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths
