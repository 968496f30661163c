"""Tests of bisect's search over releases and of the one-release matrix it boots each step with."""

import pytest

from harness.bisect import matrix_text, search
from harness.kernels.spec import KernelSpec, PackageRef, parse_matrix


@pytest.mark.parametrize("count, first_bad", [(2, 1), (3, 1), (3, 2), (6, 3), (12, 11), (12, 1)])
def test_search_finds_the_first_bad_release(count, first_bad):
    """The binary search names exactly the first bad release, testing each release at most once."""
    tested = []

    def is_bad(i):
        tested.append(i)
        return i >= first_bad
    found, why = search(count, is_bad)
    assert (found, why) == (first_bad, "")
    assert len(tested) == len(set(tested))
    assert len(tested) <= 2 + (count - 2).bit_length()


def test_search_refuses_ends_that_do_not_bracket_a_regression():
    """A bad first release or a good last one is said, not bisected."""
    assert search(5, lambda i: True) == (None, "the first release already fails: pick an older --from")
    assert search(5, lambda i: False)[0] is None
    assert "nothing regressed" in search(5, lambda i: False)[1]
    assert search(1, lambda i: True)[0] is None


def test_matrix_text_parses_back_to_the_release():
    """The one-kernel kernels.toml written for a step pins exactly the release's packages."""
    spec = KernelSpec("6.12", "6.12.113+deb12-cloud-amd64",
                      (PackageRef("linux-image-6.12.113+deb12-cloud-amd64-unsigned", "6.12.113-1~deb12u1", "ab" * 32),),
                      suite="bookworm-security")
    matrix = parse_matrix(matrix_text(spec))
    assert matrix.default == ("6.12",)
    got = matrix.kernels["6.12"]
    assert (got.release, got.packages, got.suite) == (spec.release, spec.packages, spec.suite)


def _row(name: str, change: float, verdict: str, p: float = 0.001):
    from harness.bench.compare import Row
    return Row("6.12", name, 0.0085, 0.0085 * (1 + change / 100), change, p, 5.0, verdict, 10, 10)


def test_a_bench_step_says_what_it_compared_and_its_largest_change():
    """A --bench step's line names the count compared, the regressions and the largest change either way (a good
    step shows what it rests on); with nothing in common it says nothing was compared."""
    from harness.bench.compare import Comparison
    from harness.bisect import comparison_line
    comparison = Comparison(alpha=0.01, permutations=2000, default_threshold=5.0,
                            rows=[_row("test_fork_exec_true", 1.4, "unchanged"),
                                  _row("test_clone3_one_namespace[mount]", -2.4, "unchanged", p=0.0005)])
    assert comparison_line(comparison, "6.12.113+deb12-cloud-amd64") == (
        "[bisect] 2 benchmarks compared with 6.12.113+deb12-cloud-amd64: 0 regressed; largest change -2.4% "
        "(test_clone3_one_namespace[mount], p=0.0005, threshold 5%)")
    empty = Comparison(alpha=0.01, permutations=2000, default_threshold=5.0)
    assert "nothing compared" in comparison_line(empty, "6.12.113+deb12-cloud-amd64")
