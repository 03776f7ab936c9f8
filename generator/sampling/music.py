"""Music from a model: pick how to start (style, seed note, primer or null), sample, write MIDI.

What keeps the samples inside the music. Each rule is a logits processor of the one sampler
that masks ids (sets their logits to -inf), so sampling stays exact: the next token is drawn
from the model's distribution restricted to the allowed ids and renormalised.

- **Pitch range.** Notes stay within the pitch range of the model's training data (the style's
  own range when a style is given), null starts included. The range is recorded in the
  checkpoint's tokenizer; an older checkpoint without it uses the corpus range in its info,
  and one with neither is not masked.
- **On the grid from the start.** Until a piece's first note it may only wait whole eighth
  notes, at most one 4/4 bar (a pickup), so no piece starts off the beat. A primer sets the
  clock itself and is not masked.
- **Voices.** With a style, at most as many notes start together as the style has voices in
  the training data (recorded per style: 1 = one line, chorales 4); ``voices`` overrides it.
  One line means one line: each note then ends where the next one starts.
- **Meter.** A model that learned meters (METER ids) reads a piece's time signature as its
  first token: ``meter`` (e.g. "6/8") when given, else the primer's, else the model draws
  one (from its style). The meter sets the bar length and is written back into the MIDI file.
- **User constraints**, all optional: ``key`` + ``scale`` (major, minor, the church modes,
  pentatonic ...; see SCALES), or ``key="auto"``: every note the piece plays fits one major
  scale or a mode of it (one diatonic collection), whichever its first notes choose;
  ``lowest`` / ``highest`` note; and ``voices``: at most that many notes starting together
  (1 = one line).
  ``score`` measures what they cost: the NLL of the samples under the unconstrained model.
- **A primer with more voices than the model knows** (rule): the model reads the primer with
  at most its voices per onset (the style's voices, or the most of any style without one;
  ``voices`` lowers it): where more notes start together, it keeps the highest (the melody)
  and, from two voices up, the lowest (the bass), then the highest of the rest. Primer notes
  outside the training range are moved by octaves into it. The written file keeps the primer
  as it was, followed by the continuation.
- **What the file says** (``write_pieces``): every piece is written with a time signature (its
  meter, else ``beats_per_bar``/4), a key signature and one tempo. The key signature is the
  asked ``key`` (major and minor scales and their pentatonics on the tonic; the church modes as
  the major key with the same signature, as the corpus writes them, so D dorian is C major),
  else a primer's, else the key the piece's notes give by key analysis (Krumhansl-Kessler,
  ``generator.midi.keys``; this is also what ``key="auto"`` gets). A primer's time signature,
  key signature and first tempo are kept unless ``meter``, ``key`` or ``bpm`` is given;
  ``MusicResult.primer_marks`` says which were kept.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pretty_midi
import torch

from generator.checkpoint import Loaded
from generator.midi.keys import Key, analyze_key
from generator.midi.notes import (
    Note,
    note_number,
    notes_from_pretty_midi,
    read_midi,
    to_pretty_midi,
)
from generator.sampling.processors import allow_only
from generator.sampling.sampler import SamplingOptions, sample_tokens
from generator.tokenizers import MidiEventTokenizer
from generator.validation import (
    check_bars,
    check_beats_per_bar,
    check_bpm,
    check_number,
    check_path,
    check_program,
    check_range,
    check_seconds,
    check_type,
    check_variations,
)

# semitones above the tonic of each scale or mode
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
}
# each scale's key signature: (semitones from the tonic to the signature's tonic, its mode)
SIGNATURES: dict[str, tuple[int, str]] = {
    "major": (0, "major"),
    "minor": (0, "minor"),
    "harmonic-minor": (0, "minor"),
    "ionian": (0, "major"),
    "dorian": (-2, "major"),
    "phrygian": (-4, "major"),
    "lydian": (-5, "major"),
    "mixolydian": (-7, "major"),
    "aeolian": (0, "minor"),
    "locrian": (1, "major"),
    "pentatonic": (0, "major"),
    "minor-pentatonic": (0, "minor"),
}
_TONIC = re.compile(r"^([A-Ga-g])([#b♯♭]?)$")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
AUTO_KEY = "auto"  # the key a piece's own first notes choose (see keep_to_one_key)
DEFAULT_BPM = 120.0  # the tempo when neither the request nor a primer gives one
GRID_PER_BEAT = 2  # a piece's first note falls on an eighth-note grid ...
MAX_LEAD_BEATS = 4  # ... at most one 4/4 bar after the start


def key_pitch_class(key: str) -> int:
    """A key's tonic ("D", "F#", "Bb") → its pitch class 0-11; ValueError with the rule."""
    match = _TONIC.match(str(key).strip())
    if not match:
        raise ValueError(f"invalid key {key!r}: use a note name without octave, e.g. D, F# or Bb")
    letter, accidental = match.groups()
    return (_LETTERS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)) % 12


def scale_pitches(key: str, scale: str) -> set[int]:
    """The MIDI pitches (0-127) of ``scale`` on ``key``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose from {', '.join(SCALES)}")
    tonic = key_pitch_class(key)
    classes = {(tonic + step) % 12 for step in SCALES[scale]}
    return {pitch for pitch in range(128) if pitch % 12 in classes}


def key_signature(key: str, scale: str) -> Key:
    """The key signature of ``scale`` on ``key`` (the module's rule): "D", "dorian" → C major."""
    shift, mode = SIGNATURES[scale]
    return Key.from_pitch_class(key_pitch_class(key) + shift, mode)


def piece_key(notes: list[Note]) -> Key:
    """The key of a piece's notes by key analysis (pitch classes weighted by duration)."""
    return analyze_key((n.pitch, n.duration) for n in notes)


def parse_meter(meter: str) -> tuple[int, int]:
    """ "6/8" → (6, 8); ValueError unless it is N/D with D a power of two (what MIDI holds)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{1,2})\s*", str(meter))
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if numerator >= 1 and denominator in (1, 2, 4, 8, 16, 32):
            return numerator, denominator
    raise ValueError(f"invalid meter {meter!r}: use N/D with D a power of two, e.g. 4/4 or 6/8")


def quarters_per_bar(meter: str) -> float:
    """A bar's length in quarter notes: 3.0 for "6/8" and for "3/4"."""
    numerator, denominator = parse_meter(meter)
    return numerator * 4 / denominator


@dataclass
class MusicRequest:
    """Everything a user chooses about a batch of generated pieces."""

    num: int = 1  # variations, generated as one batch
    style: str | None = None  # a style the model was trained with, or None
    seed_note: str | int | None = None  # first note, by name (D4, F#3) or number
    primer: Path | None = None  # a MIDI file to continue
    bars: float | None = 16  # length of the generated part in bars ...
    seconds: float | None = None  # ... or in seconds (at bpm)
    beats_per_bar: int = 4  # quarter notes per bar, for counting bars when there is no meter
    bpm: float | None = None  # tempo of the written file (None: the primer's, else 120)
    program: int = 0  # General MIDI program (0 = Acoustic Grand Piano)
    options: SamplingOptions = field(default_factory=SamplingOptions)
    meter: str | None = None  # time signature, e.g. "6/8" (models that learned meters)
    key: str | None = None  # tonic of the scale notes must stay in, e.g. "D" or "Bb"
    scale: str | None = None  # one of SCALES (default major when a key is given)
    lowest: str | int | None = None  # lowest note allowed, by name or number
    highest: str | int | None = None  # highest note allowed
    voices: int | None = None  # at most this many notes start together (1 = one line)
    score: bool = False  # also measure the samples' NLL under the unconstrained model
    pitch_temperature: float = 1.0  # temperature among notes only, on top of the temperature

    def __post_init__(self) -> None:
        """Each field's type and range (WrongType, a TypeError, or ValueError naming it)."""
        self.num = check_variations(check_number("num", self.num, whole=True))
        check_type("style", self.style, str, "a style name (str) or None", optional=True)
        self.primer = check_path("primer", self.primer, optional=True)
        whole_beats = check_number("beats_per_bar", self.beats_per_bar, whole=True)
        self.beats_per_bar = check_beats_per_bar(whole_beats)
        if self.bpm is not None:  # None: the primer's tempo, else 120
            check_bpm(check_number("bpm", self.bpm))
        self.program = check_program(check_number("program", self.program, whole=True))
        check_type("options", self.options, SamplingOptions, "a SamplingOptions")
        if self.seconds is not None:
            check_seconds(check_number("seconds", self.seconds))
        elif self.bars is not None:
            check_bars(check_number("bars", self.bars))
        else:
            raise ValueError("give a length in bars or in seconds")
        for name in ("meter", "key", "scale"):
            check_type(name, getattr(self, name), str, "a str or None", optional=True)
        check_type("score", self.score, bool, "True or False")
        if self.seed_note is not None:
            self.seed_note = note_number(self.seed_note)
        if self.meter is not None:
            self.meter = "{}/{}".format(*parse_meter(self.meter))
        if self.scale is not None and self.key is None:
            raise ValueError(f"scale {self.scale!r} needs a key (the tonic), e.g. key D")
        if self.key == AUTO_KEY:
            if self.scale is not None:
                raise ValueError(f"key auto chooses its own scale: leave out scale {self.scale!r}")
        elif self.key is not None:
            self.scale = self.scale or "major"
            scale_pitches(self.key, self.scale)  # checks both
        self.lowest = None if self.lowest is None else note_number(self.lowest)
        self.highest = None if self.highest is None else note_number(self.highest)
        if self.lowest is not None and self.highest is not None and self.lowest > self.highest:
            raise ValueError(
                f"the lowest note ({self.lowest}) is above the highest note ({self.highest})"
            )
        check_number("pitch_temperature", self.pitch_temperature)
        check_range("pitch temperature", self.pitch_temperature, 0.05, 10)
        if check_number("voices", self.voices, whole=True, optional=True) is not None:
            if self.voices < 1 or self.voices != int(self.voices):
                raise ValueError(f"voices must be a whole number of at least 1, got {self.voices}")
            self.voices = int(self.voices)

    @property
    def beats(self) -> float:
        """Length in quarter notes (bars count in ``meter`` when it is given; seconds at
        ``bpm``, else at 120 bpm: ``generate_music`` counts them at a primer's tempo)."""
        if self.seconds is not None:
            return self.seconds * (self.bpm or DEFAULT_BPM) / 60.0
        per_bar = quarters_per_bar(self.meter) if self.meter else self.beats_per_bar
        return float(self.bars) * per_bar

    @property
    def constrained(self) -> bool:
        """True when the user set a key, a note range or a voice count."""
        return any(x is not None for x in (self.key, self.lowest, self.highest, self.voices))


@dataclass
class MusicResult:
    """Generated pieces (notes in beats) and how long sampling took."""

    pieces: list[list[Note]]
    sampling_seconds: float
    tokens: int
    meters: list[str | None] = field(default_factory=list)  # each piece's time signature
    nll: float | None = None  # with score: nats/token of the samples, unconstrained model
    keys: list[str] = field(default_factory=list)  # each piece's key signature, "D major"
    bpm: float = DEFAULT_BPM  # the tempo to write: the request's, else the primer's, else 120
    primer_marks: dict[str, str | float] = field(default_factory=dict)  # kept from the primer:
    # "meter", "key", "bpm" (those the request did not set and the primer has)


@dataclass(frozen=True)
class MusicLimits:
    """What a music model learned, for a user interface to offer: styles, meters, pitches."""

    styles: list[str]
    meters: list[str]  # empty: the model learned no meter
    pitch_range: tuple[int, int] | None  # lowest and highest note of the training data
    style_ranges: dict[str, tuple[int, int]]
    style_voices: dict[str, int]  # notes per onset of each style: 1 = one line


def music_limits(loaded: Loaded) -> MusicLimits:
    """The styles, meters, pitch ranges and voices a music checkpoint records."""
    tokenizer = _music_tokenizer(loaded)
    return MusicLimits(
        styles=list(tokenizer.styles),
        meters=list(tokenizer.meters),
        pitch_range=training_range(loaded),
        style_ranges=dict(tokenizer.style_ranges),
        style_voices=dict(tokenizer.style_voices),
    )


def training_range(loaded: Loaded, style: str | None = None) -> tuple[int, int] | None:
    """Lowest and highest pitch of the training data (of ``style`` when the checkpoint has
    it): from the tokenizer, else (older checkpoints) from the corpus report in the info."""
    tokenizer = loaded.tokenizer
    if style is not None and style in tokenizer.style_ranges:
        return tuple(tokenizer.style_ranges[style])
    if tokenizer.pitch_range:
        return tuple(tokenizer.pitch_range)
    old = (loaded.info.get("corpus") or {}).get("pitch_range")
    return (int(old[0]), int(old[1])) if old else None


def allowed_pitches(loaded: Loaded, request: MusicRequest) -> set[int]:
    """The notes a request may generate: the training range ∩ the user's range ∩ the scale.
    ValueError when nothing is left."""
    learned = training_range(loaded, request.style)
    low, high = learned or (0, 127)
    pitches = set(range(low, high + 1))
    if request.lowest is not None:
        pitches = {p for p in pitches if p >= request.lowest}
    if request.highest is not None:
        pitches = {p for p in pitches if p <= request.highest}
    if request.key not in (None, AUTO_KEY):
        pitches &= scale_pitches(request.key, request.scale)
    if not pitches:
        names = f"{_name(low)}–{_name(high)}"
        asked = [
            f"{what} {_name(value)}"
            for what, value in (("lowest", request.lowest), ("highest", request.highest))
            if value is not None
        ]
        if request.key not in (None, AUTO_KEY):
            asked.append(f"{request.key} {request.scale}")
        raise ValueError(
            f"no note is left: the model learned {names}, and {', '.join(asked)} excludes all"
        )
    if request.seed_note is not None and request.seed_note not in pitches:
        raise ValueError(
            f"the seed note {_name(request.seed_note)} is outside the allowed notes "
            f"({_name(min(pitches))}–{_name(max(pitches))}"
            + (f", {request.key} {request.scale}" if request.key not in (None, AUTO_KEY) else "")
            + ")"
        )
    return pitches


def _name(pitch: int) -> str:
    return pretty_midi.note_number_to_name(int(pitch))


def force_first_note(tokenizer: MidiEventTokenizer, pitch: int):
    """Logits processor: a piece opens with ``pitch``. Until a sequence has played a note, only
    that note may come (after at most one velocity token): masking just the other notes would
    let a model that finds ``pitch`` unlikely shift time on in silence, starting late or never."""
    is_note = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    is_note[list(tokenizer.note_ids())] = True
    velocity_ids = torch.arange(tokenizer.velocity_offset, tokenizer.meter_offset)
    seed_id = tokenizer.note_id(pitch)

    played = None  # (batch,) bool, updated from the newest token only: O(1) per step
    everyone = False  # every sequence has played a note: nothing left to do

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal played, everyone, is_note
        if everyone:
            return logits
        if played is None:
            played = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
            is_note = is_note.to(logits.device)
        if history.shape[1]:
            played |= is_note[history[:, -1]]
            if bool(played.all()):
                everyone = True
                return logits
        allowed = torch.zeros_like(logits, dtype=torch.bool)
        allowed[:, seed_id] = True
        if history.shape[1] == 0:
            allowed[:, velocity_ids.to(logits.device)] = True
        return logits.masked_fill(~allowed & ~played.unsqueeze(1), float("-inf"))

    return process


def start_on_grid(tokenizer: MidiEventTokenizer, length: float = float("inf")):
    """Logits processor: until its first note a sequence waits only whole grid steps (eighth
    notes), at most ``MAX_LEAD_BEATS`` and less than ``length`` (beats); its first note falls
    on the grid."""
    grid = max(1, tokenizer.steps_per_beat // GRID_PER_BEAT)
    lead = min(MAX_LEAD_BEATS, length) * tokenizer.steps_per_beat
    lead = max(0, int(lead - 1) // grid * grid)  # the last grid step before ``length``
    # row c: the ids allowed before the first note when the clock stands at step c
    table = torch.zeros(lead + 1, tokenizer.vocab_size, dtype=torch.bool)
    table[:, tokenizer.velocity_offset : tokenizer.meter_offset] = True
    for clock in range(0, lead + 1, grid):
        table[clock, list(tokenizer.note_ids())] = True
    for clock in range(lead + 1):
        for shift in range(1, tokenizer.max_shift + 1):
            if (clock + shift) % grid == 0 and clock + shift <= lead:
                table[clock, tokenizer.shift_offset + shift - 1] = True
    step_cost = torch.as_tensor(tokenizer.length_cost("steps")).long()
    is_note = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    is_note[list(tokenizer.note_ids())] = True
    clock = started = None
    everyone = False

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal clock, started, everyone, table, step_cost, is_note
        if everyone:
            return logits
        if clock is None:
            device = logits.device
            table, step_cost, is_note = table.to(device), step_cost.to(device), is_note.to(device)
            clock = torch.zeros(logits.shape[0], dtype=torch.long, device=device)
            started = torch.zeros(logits.shape[0], dtype=torch.bool, device=device)
        if history.shape[1]:
            newest = history[:, -1]
            started |= is_note[newest]
            clock = torch.where(started, clock, (clock + step_cost[newest]).clamp(max=lead))
            if bool(started.all()):
                everyone = True
                return logits
        allowed = table[clock] | started.unsqueeze(1)
        return logits.masked_fill(~allowed, float("-inf"))

    return process


def limit_voices(tokenizer: MidiEventTokenizer, voices: int, already: int = 0):
    """Logits processor: at most ``voices`` notes start together (``already`` have started at
    the current onset when sampling begins, e.g. a primer's last chord)."""
    kinds = torch.zeros(tokenizer.vocab_size, dtype=torch.long)  # 1 note, 2 shift, 0 other
    kinds[list(tokenizer.note_ids())] = 1
    kinds[tokenizer.shift_offset : tokenizer.velocity_offset] = 2
    note_ids = torch.tensor(list(tokenizer.note_ids()))
    count = None

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal count, kinds, note_ids
        if count is None:
            kinds, note_ids = kinds.to(logits.device), note_ids.to(logits.device)
            count = torch.full((logits.shape[0],), already, device=logits.device)
        if history.shape[1]:
            kind = kinds[history[:, -1]]
            count = torch.where(kind == 2, 0, count + (kind == 1).long())
        full = (count >= voices).unsqueeze(1)  # (batch, 1)
        notes = torch.zeros_like(logits, dtype=torch.bool)
        notes[:, note_ids] = True
        return logits.masked_fill(full & notes, float("-inf"))

    return process


def temper_pitches(tokenizer: MidiEventTokenizer, temperature: float):
    """Logits processor: the distribution among NOTE ids is tempered by ``temperature`` while
    the chance of playing a note at all (against waiting, a duration ...) stays the same: the
    melody gets safer (< 1) or wilder (> 1) and the rhythm is left alone."""
    notes = torch.tensor(list(tokenizer.note_ids()))

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal notes
        notes = notes.to(logits.device)
        note_logits = logits[:, notes]  # (batch, 128)
        total = torch.logsumexp(note_logits, dim=-1, keepdim=True)
        tempered = note_logits / temperature
        shift = total - torch.logsumexp(tempered, dim=-1, keepdim=True)
        logits = logits.clone()
        logits[:, notes] = torch.where(torch.isfinite(shift), tempered + shift, note_logits)
        return logits

    return process


def keep_to_one_key(tokenizer: MidiEventTokenizer):
    """Logits processor: the pitch classes a sequence plays always fit one diatonic collection
    (the notes of a major scale, so of each of its modes). A next note may be any pitch class
    that, added to those played so far, still fits one; the first notes choose the key."""
    major = torch.tensor([0, 2, 4, 5, 7, 9, 11])
    collections = torch.zeros(12, 12, dtype=torch.bool)  # (tonic, pitch class)
    for tonic in range(12):
        collections[tonic, (major + tonic) % 12] = True
    note_class = torch.full((tokenizer.vocab_size,), -1, dtype=torch.long)  # -1: not a note
    note_class[list(tokenizer.note_ids())] = torch.arange(128) % 12
    note_columns = torch.tensor(list(tokenizer.note_ids()))
    note_classes = torch.arange(128) % 12
    used = None

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal used, collections, note_class, note_columns, note_classes
        if used is None:
            device = logits.device
            collections, note_class = collections.to(device), note_class.to(device)
            note_columns, note_classes = note_columns.to(device), note_classes.to(device)
            used = torch.zeros(logits.shape[0], 12, dtype=torch.bool, device=device)
        if history.shape[1]:
            pitch_class = note_class[history[:, -1]]
            rows = (pitch_class >= 0).nonzero().squeeze(1)
            used[rows, pitch_class[rows]] = True
        # collections holding every class used so far: (batch, 12 tonics)
        fits = ~(used.unsqueeze(1) & ~collections.unsqueeze(0)).any(-1)
        allowed = (fits.unsqueeze(2) & collections.unsqueeze(0)).any(1)  # (batch, 12 classes)
        allowed |= ~fits.any(1, keepdim=True)  # none fits (cannot happen unmasked): no mask
        banned = torch.zeros_like(logits, dtype=torch.bool)
        banned[:, note_columns] = ~allowed[:, note_classes]
        return logits.masked_fill(banned, float("-inf"))

    return process


def pitch_mask(tokenizer: MidiEventTokenizer, pitches: set[int]) -> torch.Tensor:
    """(vocab,) bool: every id but the NOTE ids outside ``pitches`` and the METER ids (a
    piece's meter is its first token: fed, never sampled mid-piece)."""
    allowed = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
    allowed[list(tokenizer.note_ids())] = False
    allowed[[tokenizer.note_id(p) for p in pitches]] = True
    allowed[list(tokenizer.meter_ids())] = False
    return allowed


def reduce_primer(notes: list[Note], voices: int | None, pitch_range, steps_per_beat: int):
    """The primer as the model reads it (the module's rule): at most ``voices`` notes per
    onset (highest, lowest, then the highest of the rest), pitches moved by octaves into
    ``pitch_range``."""
    by_onset: dict[int, list[Note]] = {}
    for note in notes:
        by_onset.setdefault(round(note.start * steps_per_beat), []).append(note)
    kept = []
    for group in by_onset.values():
        group = sorted(group, key=lambda n: -n.pitch)
        if voices is not None and len(group) > voices:
            chosen = group[:1] + (group[-1:] if voices >= 2 else [])
            group = chosen + [n for n in group[1:-1]][: voices - len(chosen)]
        kept += group
    if pitch_range is not None:
        low, high = pitch_range
        kept = [Note(n.start, n.duration, _into(n.pitch, low, high), n.velocity) for n in kept]
    return sorted(kept)


def _into(pitch: int, low: int, high: int) -> int:
    while pitch < low and pitch + 12 <= 127:
        pitch += 12
    while pitch > high and pitch - 12 >= 0:
        pitch -= 12
    return min(max(pitch, low), high)


def generate_music(loaded: Loaded, request: MusicRequest) -> MusicResult:
    """Sample ``request.num`` pieces; each ends once its length (``request.beats``, or its
    bars in its own meter) is generated. See the module's rules and constraints."""
    tokenizer = _music_tokenizer(loaded)
    model = loaded.model
    device = next(model.parameters()).device
    num = request.num

    style_id = tokenizer.style_id(request.style)
    if request.meter is not None:
        tokenizer.meter_id(request.meter)  # an unknown meter: the error names the known ones
    pitches = allowed_pitches(loaded, request)

    primer_ids, seed_pitch, primer_notes, found = [], request.seed_note, [], {}
    if request.primer is not None:
        midi = read_midi(request.primer)
        primer_notes = notes_from_pretty_midi(midi)
        if not primer_notes:
            raise ValueError(f"{request.primer}: the primer has no notes")
        found = primer_marks(midi)
        model_voices = request.voices
        known = tokenizer.style_voices
        if known:
            most = known.get(request.style, max(known.values()))
            model_voices = min(most, model_voices or most)
        read = reduce_primer(
            primer_notes, model_voices, training_range(loaded), tokenizer.steps_per_beat
        )
        encoded = tokenizer.encode(read)
        seed_pitch = tokenizer.first_pitch(encoded)
        primer_ids = encoded.tolist()
    seed_id = 0 if seed_pitch is None else seed_pitch + 1
    with torch.inference_mode():
        cond = model.condition(
            torch.full((num,), style_id, device=device),
            torch.full((num,), seed_id, device=device),
        )

    bpm = request.bpm or found.get("bpm") or DEFAULT_BPM
    meters = _choose_meters(model, cond, tokenizer, request, found.get("meter"))
    if request.seconds is not None:
        beats = [request.seconds * bpm / 60.0] * num
    elif any(meters):
        beats = [request.bars * quarters_per_bar(m) if m else request.beats for m in meters]
    else:
        beats = [request.beats] * num
    rows = [([tokenizer.meter_id(m)] if m in tokenizer.meters else []) + primer_ids for m in meters]
    prefix = torch.as_tensor(rows, dtype=torch.long) if rows[0] else None

    processors = [allow_only(pitch_mask(tokenizer, pitches))]
    if request.pitch_temperature != 1.0:  # first: the masks then cut from the tempered one
        processors.insert(0, temper_pitches(tokenizer, request.pitch_temperature))
    if request.seed_note is not None and request.primer is None:
        processors.append(force_first_note(tokenizer, request.seed_note))
    if request.primer is None:
        processors.append(start_on_grid(tokenizer, min(beats)))
    if request.key == AUTO_KEY:
        processors.append(keep_to_one_key(tokenizer))
    voices = request.voices or tokenizer.style_voices.get(request.style)
    if voices is not None:
        processors.append(limit_voices(tokenizer, voices, _trailing_notes(tokenizer, primer_ids)))

    started = time.perf_counter()
    sequences = sample_tokens(
        model,
        cond,
        request.options,
        eos_id=tokenizer.eos_id,
        never=(tokenizer.pad_id, tokenizer.bos_id),
        prefix=prefix,
        max_tokens=int(max(beats) * tokenizer.steps_per_beat * 8) + 64,
        length_cost=torch.from_numpy(tokenizer.length_cost("beats")),
        length_limit=beats,
        processors=processors,
    )
    elapsed = time.perf_counter() - started
    nll = sequence_nll(model, cond, prefix, sequences) if request.score else None

    offset = _primer_clock(tokenizer, primer_ids) if primer_notes else 0.0
    pieces = []
    for ids, length in zip(sequences, beats, strict=True):
        end = offset + length
        generated = [
            Note(n.start + offset, min(n.duration, end - n.start - offset), n.pitch, n.velocity)
            for n in tokenizer.decode(ids)
            if n.start + offset < end
        ]
        if voices == 1:
            generated = one_line(generated)
        pieces.append(list(primer_notes) + generated)
    if request.key not in (None, AUTO_KEY):
        keys = [str(key_signature(request.key, request.scale))] * num
    elif request.key is None and "key" in found:
        keys = [found["key"]] * num
    else:
        keys = [str(piece_key(notes)) for notes in pieces]
    kept = {"meter": request.meter, "key": request.key, "bpm": request.bpm}
    marks = {what: value for what, value in found.items() if kept[what] is None}
    tokens = sum(len(s) for s in sequences)
    return MusicResult(pieces, elapsed, tokens, meters, nll, keys, bpm, marks)


def marks_text(marks: dict[str, str | float]) -> str:
    """ "time signature 6/8, key signature D major, tempo 96 bpm" for ``primer_marks``."""
    words = {"meter": "time signature {}", "key": "key signature {}", "bpm": "tempo {:g} bpm"}
    return ", ".join(words[what].format(value) for what, value in marks.items())


def primer_marks(midi: pretty_midi.PrettyMIDI) -> dict[str, str | float]:
    """A primer's opening time signature ("meter": "6/8"), key signature ("key": "D major")
    and tempo ("bpm", when within 20-400), where it has them."""
    marks: dict[str, str | float] = {}
    if midi.time_signature_changes:
        first = min(midi.time_signature_changes, key=lambda change: change.time)
        marks["meter"] = f"{first.numerator}/{first.denominator}"
    if midi.key_signature_changes:
        first = min(midi.key_signature_changes, key=lambda change: change.time)
        marks["key"] = str(Key.from_midi_key_number(first.key_number))
    _, tempi = midi.get_tempo_changes()
    if len(tempi) and 20 <= float(tempi[0]) <= 400:
        marks["bpm"] = round(float(tempi[0]), 3)
    return marks


def _music_tokenizer(loaded: Loaded) -> MidiEventTokenizer:
    if not isinstance(loaded.tokenizer, MidiEventTokenizer):
        raise ValueError(f"{loaded.path}: this checkpoint is not a music model")
    return loaded.tokenizer


def _choose_meters(model, cond, tokenizer, request, primer_meter) -> list[str | None]:
    """Each piece's meter: the request's, else the primer's, else (a model that learned
    meters) drawn from the model's first step; None when there is none."""
    num = cond.shape[0]
    if request.meter is not None:
        return [request.meter] * num
    if request.primer is not None or not tokenizer.meters:
        return [primer_meter] * num
    only_meters = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    only_meters[list(tokenizer.meter_ids())] = True
    options = request.options
    drawn = sample_tokens(
        model,
        cond,
        SamplingOptions(options.temperature, seed=options.seed, greedy=options.greedy),
        eos_id=tokenizer.eos_id,
        never=(tokenizer.pad_id, tokenizer.bos_id),
        max_tokens=1,
        processors=[allow_only(only_meters)],
    )
    return [tokenizer.meter_of(ids) for ids in drawn]


def _trailing_notes(tokenizer: MidiEventTokenizer, ids: list[int]) -> int:
    """How many notes start at the last onset of ``ids``."""
    count = 0
    for token in reversed(ids):
        kind, _ = tokenizer.split(token)
        if kind == "SHIFT":
            break
        count += kind == "NOTE"
    return count


def one_line(notes: list[Note]) -> list[Note]:
    """Notes as one line: each ends by the time the next one starts."""
    notes = sorted(notes)
    return [
        Note(n.start, min(n.duration, after.start - n.start), n.pitch, n.velocity)
        if after.start > n.start
        else n
        for n, after in zip(notes, notes[1:], strict=False)
    ] + notes[-1:]


@torch.inference_mode()
def sequence_nll(model, cond: torch.Tensor, prefix, sequences: list[list[int]]) -> float:
    """Mean NLL (nats/token) of the generated ``sequences`` under the model itself, with no
    mask and temperature 1, after ``cond`` and the ``prefix`` rows: the constraints' cost."""
    prefix_len = 0 if prefix is None else prefix.shape[1]
    rows = [
        (prefix[i].tolist() if prefix is not None else []) + seq for i, seq in enumerate(sequences)
    ]
    width = max(len(r) for r in rows)
    if width == 0 or not any(sequences):
        return 0.0
    targets = torch.zeros(len(rows), width, dtype=torch.long)  # PAD = 0: no loss
    for i, row in enumerate(rows):
        targets[i, : len(row)] = torch.as_tensor(row)
    targets[:, :prefix_len] = 0  # the prefix is given, not generated
    inputs = torch.cat(
        [
            torch.ones(len(rows), 1, dtype=torch.long),
            torch.as_tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long)[:, :-1],
        ],
        dim=1,
    )
    device = cond.device
    starts = torch.ones(len(rows), dtype=torch.bool, device=device)
    logits, _ = model(inputs.to(device), cond=cond, starts=starts)  # (batch, width, vocab)
    nll = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.to(device).reshape(-1),
        ignore_index=0,
        reduction="sum",
    )
    return float(nll) / int((targets != 0).sum())


def _primer_clock(tokenizer: MidiEventTokenizer, ids) -> float:
    """Where the primer's event clock stands after its last token (onset of its last notes)."""
    return float(tokenizer.length_cost("beats")[ids].sum())


def write_pieces(
    pieces: list[list[Note]],
    out_dir: str | Path,
    *,
    stem: str,
    bpm: float,
    program: int,
    meters: list[str | None] | None = None,
    keys: list[str | None] | None = None,
    beats_per_bar: int = 4,
) -> list[Path]:
    """Write each piece as ``out_dir/stem-N.mid``, never overwriting: an existing name gets a
    ``-2``, ``-3`` ... suffix on the stem. Each file holds one tempo (``bpm``), a time signature
    (the piece's of ``meters``, else ``beats_per_bar``/4) and a key signature (the piece's of
    ``keys``, e.g. "D major", else the key of its notes by key analysis)."""
    out_dir = Path(out_dir)
    unique, k = stem, 1
    while any((out_dir / f"{unique}-{i + 1}.mid").exists() for i in range(len(pieces))):
        k += 1
        unique = f"{stem}-{k}"
    meters = meters or [None] * len(pieces)
    keys = keys or [None] * len(pieces)
    paths = []
    for i, (notes, meter, key) in enumerate(zip(pieces, meters, keys, strict=True)):
        midi = to_pretty_midi(notes, bpm=bpm, program=program, name=stem)
        numerator, denominator = parse_meter(meter) if meter else (beats_per_bar, 4)
        midi.time_signature_changes = [pretty_midi.TimeSignature(numerator, denominator, 0.0)]
        signature = Key.parse(key) if key else piece_key(notes)
        midi.key_signature_changes = [pretty_midi.KeySignature(signature.midi_key_number, 0.0)]
        path = out_dir / f"{unique}-{i + 1}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        midi.write(str(path))
        paths.append(path)
    return paths
