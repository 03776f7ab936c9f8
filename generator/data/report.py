"""What a corpus reader found: one base for the reports of every reader (MIDI folders, text,
piano rolls, harmony pairs from MIDI, TSV pairs).

A report is a dataclass of counts. The base holds what every reader has (the inputs it skipped
and why, how long reading took) and writes ``summary`` and ``to_dict`` once: a report lists only
its own lines (``describe``) and, where a stored value is not simply a field, names the fields to
leave out (``NOT_SAVED``) and the values to add (``derived``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


def skipped_lines(skipped: list[tuple[str, str]], show: int = 10) -> list[str]:
    """Report lines for skipped inputs: a count per reason, then the first few by name."""
    reasons = Counter(reason.split(":")[0] for _, reason in skipped)
    lines = [f"  skipped {count}: {reason}" for reason, count in reasons.most_common()]
    lines += [f"    {name}: {reason}" for name, reason in skipped[:show]]
    if len(skipped) > show:
        lines.append(f"    ... and {len(skipped) - show} more")
    return lines


def plain(value: Any) -> Any:
    """``value`` as JSON types: tuples become lists, Counters and other dicts plain dicts."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


@dataclass(kw_only=True)
class ReadReport:
    """The base of every corpus report: what was skipped and why, and how long reading took."""

    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    read_seconds: float = 0.0  # of this run, not of the data: shown, never stored

    NOT_SAVED: ClassVar[tuple[str, ...]] = ()  # fields to_dict leaves out (besides the time)

    def describe(self, split: bool) -> list[str]:
        """The report's own lines; ``split``: include the train/valid split."""
        raise NotImplementedError

    def derived(self) -> dict[str, Any]:
        """Values to_dict stores besides the fields (e.g. a pitch range from two fields)."""
        return {}

    def summary(self, *, split: bool = True) -> str:
        """The report for people: its lines, then the skipped inputs. ``split=False`` leaves
        out the train/valid split (evaluation reads all of the data)."""
        return "\n".join(self.describe(split) + skipped_lines(self.skipped))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON types, as stored in a checkpoint's info."""
        left_out = {"read_seconds", *self.NOT_SAVED}
        stored = {
            f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name not in left_out
        }
        return {**stored, **self.derived()}
