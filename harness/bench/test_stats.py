"""Tests of the permutation test on the difference of medians and of the relative change."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.bench.stats import permutation_p, relative_change
from harness.bench.synthetic import samples


def test_identical_distributions_give_a_large_p():
    """Two independent draws of 30 samples from one distribution are not told apart (p well above 0.01)."""
    for seed in range(5):
        a = samples(0.015, noise=0.02, seed=seed)
        b = samples(0.015, noise=0.02, seed=100 + seed)
        assert permutation_p(a, b) > 0.05


def test_ten_percent_shift_with_two_percent_noise_is_significant():
    """A 10 % shift of the median with 30 samples of 2 % noise gives p < 0.01 (none of 2000 as extreme)."""
    a = samples(0.015, noise=0.02, seed=1)
    b = samples(0.0165, noise=0.02, seed=2)
    p = permutation_p(a, b)
    assert p < 0.01
    assert p == pytest.approx(1 / 2001)


def test_same_samples_give_p_one():
    """Comparing samples with themselves: every permutation is as extreme as a zero difference, p = 1."""
    a = samples(0.01, seed=3)
    assert permutation_p(a, list(a)) == 1.0
    assert permutation_p(a, list(a), alpha=0.01) == 1.0


def test_seeded_and_reproducible():
    """The same samples and seed give the same p; another seed may give another p."""
    a, b = samples(1.0, 0.05, seed=4), samples(1.01, 0.05, seed=5)
    assert permutation_p(a, b) == permutation_p(a, b)
    assert 0 < permutation_p(a, b, seed=7) <= 1


def test_early_stop_agrees_with_the_full_test_about_alpha():
    """With alpha, drawing stops early, but p >= alpha exactly when the full test says so."""
    for seed in range(6):
        a, b = samples(1.0, 0.05, n=20, seed=seed), samples(1.03, 0.05, n=20, seed=50 + seed)
        full = permutation_p(a, b)
        early = permutation_p(a, b, alpha=0.01)
        assert (full < 0.01) == (early < 0.01)
        if full < 0.01:
            assert early == full


def test_early_stop_draws_few_permutations_for_alike_samples(monkeypatch):
    """With alpha 0.01 alike samples stop after about 21 as-extreme draws instead of all 2000 permutations."""
    from harness.bench import stats
    calls = []
    real_median = stats.statistics.median
    monkeypatch.setattr(stats.statistics, "median", lambda data: calls.append(1) or real_median(data))
    a, b = samples(1.0, 0.05, n=30, seed=9), samples(1.0, 0.05, n=30, seed=10)  # full test: p = 0.56
    p = permutation_p(a, b, permutations=2000, alpha=0.01)
    draws = (len(calls) - 3) // 2  # 3 medians before drawing, 2 per permutation
    assert p >= 0.01
    assert draws < 200
    assert p == pytest.approx(21 / (draws + 1))


def test_needs_samples_on_both_sides():
    """An empty side or no permutations is an error, not a p-value."""
    with pytest.raises(ValueError, match="at least one sample"):
        permutation_p([], [1.0])
    with pytest.raises(ValueError, match="permutations"):
        permutation_p([1.0], [1.0], permutations=0)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=12), st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=12))
def test_p_is_a_probability_never_zero(a, b):
    """Whatever the samples, 1/(n+1) <= p <= 1."""
    p = permutation_p(a, b, permutations=200)
    assert 1 / 201 <= p <= 1


def test_relative_change_in_percent():
    """The change is (median B - median A) / median A in percent; a zero baseline gives 0 or +inf."""
    assert relative_change([1.0, 2.0, 3.0], [2.2, 2.2, 2.2]) == pytest.approx(10.0)
    assert relative_change([2.0], [1.0]) == pytest.approx(-50.0)
    assert relative_change([0.0], [0.0]) == 0.0
    assert math.isinf(relative_change([0.0], [1.0]))
