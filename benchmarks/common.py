"""Shared helpers for the benchmark scripts: flags, machine description, interleaved timing.

Every figure is a ratio against a reference measured in the same run: the cases of a
benchmark take turns (ours, reference, ours, reference ...) for ``--repeats`` rounds, so load
from other processes falls on both alike, and the ratio reported is the median of the
per-round ratios. Absolute figures (medians) are printed too, with the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/NAME.py` from a checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def parser(description: str, *, repeats: int = 5) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for ours and the references alike",
    )
    p.add_argument("--repeats", type=int, default=repeats, help="interleaved rounds per case")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, data and sampling")
    return p


def setup(args: argparse.Namespace) -> None:
    """Apply the common flags: thread count and seed."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def machine(threads: int | None = None) -> str:
    """One line: cores, CPU, torch version, threads and load."""
    threads = torch.get_num_threads() if threads is None else threads
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), torch {torch.__version__}, "
        f"{threads} thread(s), load average {load_average()}"
    )


def interleave(
    cases: dict[str, Callable[[], float]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each case once per round, in turn, ``warmup`` rounds unrecorded, then ``repeats``.

    The order of the cases flips every round (A B, B A, A B ...), so neither always runs
    first. A case returns its own figure (a rate such as tokens/s, or seconds); the lists keep
    the rounds in order, so figures of one round can be compared with each other."""
    results: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(warmup + repeats):
        order = list(cases.items())
        for name, case in order if round_ % 2 == 0 else reversed(order):
            value = case()
            if round_ >= warmup:
                results[name].append(value)
    return results


def ratio(results: dict[str, list[float]], ours: str, reference: str) -> float:
    """Median over rounds of ours / reference (each round's pair ran back to back)."""
    pairs = zip(results[ours], results[reference], strict=True)
    return statistics.median(a / b for a, b in pairs)


def median(values: list[float]) -> float:
    return statistics.median(values)


def rate(work: float, run: Callable[[], object]) -> float:
    """``work`` units (tokens, files ...) done by ``run()`` per second of wall time."""
    started = time.perf_counter()
    run()
    return work / (time.perf_counter() - started)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float, digits: int = 0) -> str:
    """A figure with thousands separators."""
    return f"{value:,.{digits}f}"
