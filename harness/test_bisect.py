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
