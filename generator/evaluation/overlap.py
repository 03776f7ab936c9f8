"""Set against set: how much two sets of pieces agree on a feature, as an overlap area.

- A **scalar** feature gives each set a distribution of per-piece values. Each is smoothed with a
  Gaussian kernel (width by Scott's rule on that set, never narrower than the feature's
  resolution) and the overlap area is ∫ min(p, q): 1 for identical distributions, 0 for
  disjoint ones.
- A **histogram** feature (intervals, note lengths) is compared as Yang & Lerch (2020) do: the
  Euclidean distances from each generated piece to each reference piece (inter-set) against the
  distances between reference pieces (intra-set). If the generated pieces are drawn like the
  reference, both distance distributions are the same and their overlap area is 1.
- The **ceiling** is the same figure for one half of the reference against the other half,
  averaged over random halvings: what real pieces score against real pieces of the same kind.
  Halves are smaller sets, so the ceiling is a little pessimistic: samples drawn exactly like
  the reference score slightly above it (about 2-6% for 124-42 reference pieces).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from generator.evaluation.features import Feature

GRID_POINTS = 16384  # evaluation points of the smoothed densities
TAILS = 5.0  # the grid reaches this many kernel widths beyond the outermost values


def kernel_width(values: np.ndarray, resolution: float) -> float:
    """Scott's rule (σ · n^(−1/5)), at least ``resolution``."""
    values = np.asarray(values, dtype=float)
    spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return max(spread * len(values) ** -0.2, resolution)


def density_overlap(a: Sequence[float], b: Sequence[float], resolution: float) -> float:
    """Overlap area ∫ min(p, q) of the Gaussian-kernel densities of two samples of numbers."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return math.nan
    width_a, width_b = kernel_width(a, resolution), kernel_width(b, resolution)
    reach = TAILS * max(width_a, width_b)
    grid = np.linspace(min(a.min(), b.min()) - reach, max(a.max(), b.max()) + reach, GRID_POINTS)
    overlap = np.minimum(_density(a, width_a, grid), _density(b, width_b, grid))
    area = float(((overlap[1:] + overlap[:-1]) / 2).sum() * (grid[1] - grid[0]))  # trapezoids
    return min(1.0, area)


def _density(values: np.ndarray, width: float, grid: np.ndarray) -> np.ndarray:
    """Gaussian-kernel density on an even grid. The values are first shared out between their
    two neighbouring grid points (linear binning), then convolved with the kernel by FFT: the
    cost no longer grows with values × points, and the error is far below the kernel width
    (grid steps are < 1/4000 of the span, kernels at least one resolution wide)."""
    step = grid[1] - grid[0]
    position = (values - grid[0]) / step
    left = np.clip(np.floor(position).astype(np.int64), 0, len(grid) - 2)
    right_share = position - left
    mass = np.zeros(len(grid))
    np.add.at(mass, left, 1 - right_share)
    np.add.at(mass, left + 1, right_share)
    half = min(int(math.ceil(6 * width / step)), len(grid))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / width) ** 2)
    size = 1 << int(math.ceil(math.log2(len(grid) + len(kernel))))
    smoothed = np.fft.irfft(np.fft.rfft(mass, size) * np.fft.rfft(kernel, size), size)
    density = smoothed[half : half + len(grid)]
    return np.maximum(density, 0) / (len(values) * width * math.sqrt(2 * math.pi))


def pairwise_distances(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances: every row of ``x`` to every row of ``y`` (flattened), or, without
    ``y``, between every two distinct rows of ``x`` (each pair once)."""
    if y is None:
        first, second = np.triu_indices(len(x), k=1)
        return np.linalg.norm(x[first] - x[second], axis=1)
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2).ravel()


def present(values: Sequence) -> list:
    """The values that are not NaN (a missing histogram is the float NaN)."""
    return [v for v in values if not (np.isscalar(v) and math.isnan(v))]


def feature_overlap(feature: Feature, generated: Sequence, reference: Sequence) -> float:
    """Overlap area of ``generated`` against ``reference`` (per-piece values of ``feature``);
    NaN when either set has too few pieces with the feature."""
    generated, reference = present(generated), present(reference)
    if feature.kind == "scalar":
        return density_overlap(generated, reference, feature.resolution)
    if len(generated) < 1 or len(reference) < 2:
        return math.nan
    generated, reference = np.stack(generated), np.stack(reference)
    inter = pairwise_distances(generated, reference)
    intra = pairwise_distances(reference)
    return density_overlap(inter, intra, feature.resolution)


def halves(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of ``range(count)`` into two halves (the first one smaller if odd)."""
    order = rng.permutation(count)
    return order[: count // 2], order[count // 2 :]


def ceiling(feature: Feature, reference: Sequence, *, splits: int = 10, seed: int = 0) -> float:
    """Mean overlap area of one half of ``reference`` against the other, over ``splits`` random
    halvings (each direction counted, for histogram features); NaN below four pieces."""
    values = present(reference)
    if len(values) < 4:
        return math.nan
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(splits):
        first, second = halves(len(values), rng)
        a, b = [values[i] for i in first], [values[i] for i in second]
        scores.append(feature_overlap(feature, a, b))
        if feature.kind == "histogram":
            scores.append(feature_overlap(feature, b, a))
    return float(np.nanmean(scores))
