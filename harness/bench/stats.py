"""A two-sided permutation test on the difference of medians, in pure Python with a seeded generator."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

DEFAULT_PERMUTATIONS = 2000
DEFAULT_SEED = 20261129


def relative_change(a: Sequence[float], b: Sequence[float]) -> float:
    """(median(b) - median(a)) / median(a), in percent; +inf when A's median is 0 and B's is not."""
    ma, mb = statistics.median(a), statistics.median(b)
    if ma == 0:
        return 0.0 if mb == 0 else float("inf")
    return (mb - ma) / ma * 100.0


def permutation_p(a: Sequence[float], b: Sequence[float], permutations: int = DEFAULT_PERMUTATIONS,
                  alpha: float | None = None, seed: int = DEFAULT_SEED) -> float:
    """The p-value of |median(b) - median(a)| under the hypothesis that A and B are one distribution.

    Each permutation shuffles the pooled samples and splits them back into groups of the original
    sizes; p = (k + 1) / (n + 1) where k of n permutations are at least as extreme as observed (so p
    is never 0). With `alpha`, drawing stops once k + 1 >= alpha * (n + 1): p can no longer fall
    below alpha, and the p returned is then (k + 1) / (i + 1) from the i permutations drawn so far,
    which is at least alpha too. The generator is seeded: the same samples always give the same p.
    """
    if len(a) < 1 or len(b) < 1:
        raise ValueError("the permutation test needs at least one sample on each side")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    observed = abs(statistics.median(b) - statistics.median(a))
    # Medians of permuted groups are the same floats in another order; allow for rounding only.
    bar = observed - 1e-12 * max(observed, abs(statistics.median(a)))
    pooled = list(a) + list(b)
    n_a = len(a)
    rng = random.Random(seed)
    give_up = None if alpha is None else alpha * (permutations + 1) - 1
    extreme = 0
    for drawn in range(1, permutations + 1):
        rng.shuffle(pooled)
        if abs(statistics.median(pooled[n_a:]) - statistics.median(pooled[:n_a])) >= bar:
            extreme += 1
            if give_up is not None and extreme >= give_up:
                return (extreme + 1) / (drawn + 1)
    return (extreme + 1) / (permutations + 1)
