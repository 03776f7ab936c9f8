"""Overlap areas and the half-against-half ceiling on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generator.evaluation.features import Feature
from generator.evaluation.overlap import (
    ceiling,
    density_overlap,
    feature_overlap,
    kernel_width,
    pairwise_distances,
)

SCALAR = Feature("x", "a number", "scalar", 0.1)
HISTOGRAM = Feature("h", "a histogram", "histogram", 0.02)


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("distance", [0.0, 0.1, 0.25, 0.5])
def test_two_single_values_overlap_like_two_gaussians(distance):
    # One value each: both kernels are as narrow as the resolution, 0.1, so the overlap of
    # N(0, 0.1) and N(d, 0.1) is 2 Φ(-d / 0.2).
    found = density_overlap([0.0], [distance], resolution=0.1)
    assert found == pytest.approx(2 * normal_cdf(-distance / 0.2), abs=1e-3)


def test_identical_and_disjoint_sets():
    values = np.random.default_rng(0).normal(size=200)
    assert density_overlap(values, values, 0.01) == pytest.approx(1.0, abs=1e-6)
    assert density_overlap(values, values + 100, 0.01) == pytest.approx(0.0, abs=1e-6)


def test_kernel_width_is_scotts_rule_with_a_floor():
    values = np.array([0.0, 2.0])  # sample std sqrt(2)
    assert kernel_width(values, 0.1) == pytest.approx(math.sqrt(2) * 2**-0.2)
    assert kernel_width(np.array([3.0, 3.0]), 0.1) == 0.1


def test_pairwise_distances():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert pairwise_distances(x).tolist() == [5.0]
    assert pairwise_distances(x, x[:1]).tolist() == [0.0, 5.0]


def test_scalar_overlap_leaves_out_nans():
    assert feature_overlap(SCALAR, [1.0, math.nan], [1.0]) == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(feature_overlap(SCALAR, [math.nan], [1.0]))


def test_histogram_overlap_is_high_for_the_same_kind_and_low_for_another():
    rng = np.random.default_rng(1)
    reference = list(rng.dirichlet(np.ones(5) * 20, size=60))
    alike = list(rng.dirichlet(np.ones(5) * 20, size=60))
    other = list(rng.dirichlet(np.array([50, 1, 1, 1, 1.0]), size=60))
    assert feature_overlap(HISTOGRAM, alike, reference) > 0.85
    assert feature_overlap(HISTOGRAM, other, reference) < 0.2
    assert feature_overlap(HISTOGRAM, alike + [math.nan], reference) == pytest.approx(
        feature_overlap(HISTOGRAM, alike, reference)
    )


def test_ceiling_of_a_homogeneous_set_is_high_and_needs_four_pieces():
    rng = np.random.default_rng(2)
    assert ceiling(SCALAR, list(rng.normal(size=100))) > 0.8
    assert ceiling(HISTOGRAM, list(rng.dirichlet(np.ones(5) * 20, size=60))) > 0.8
    assert math.isnan(ceiling(SCALAR, [1.0, 2.0, 3.0]))
    # the same seed gives the same halvings
    values = list(rng.normal(size=30))
    assert ceiling(SCALAR, values, seed=5) == ceiling(SCALAR, values, seed=5)
