"""Tests of the guest clock's resolution (pure logic: which clock a run gets for its accel and its tests)."""

import pytest

from harness.guests import default_jobs, guest_cpus, resolve_clock


@pytest.mark.parametrize("requested, accel, benchmarks_only, expected", [
    ("auto", "tcg", True, "icount"),   # tox -e bench under TCG: reproducible instruction time
    ("auto", "tcg", False, "real"),    # the suites race deadlines: the host's time
    ("auto", "kvm", True, "real"),     # KVM cannot count instructions
    ("real", "tcg", True, "real"),
    ("icount", "tcg", False, "icount"),
])
def test_clock_follows_the_request_accel_and_tests(requested, accel, benchmarks_only, expected):
    """auto picks icount only for benchmark-only TCG runs; an explicit clock is kept."""
    assert resolve_clock(requested, accel, benchmarks_only) == expected


def test_impossible_clocks_are_refused_with_the_fix():
    """icount under KVM names both ways out; an unknown clock lists the known ones."""
    with pytest.raises(ValueError, match="needs TCG.*--accel tcg or --clock real"):
        resolve_clock("icount", "kvm", True)
    with pytest.raises(ValueError, match="expected auto, real or icount"):
        resolve_clock("wall", "tcg", True)


def test_icount_guests_get_one_vcpu_unless_asked_otherwise():
    """A second vCPU under icount hangs 5.10 and 6.1 at boot: the default is 1 there, 2 elsewhere."""
    assert (guest_cpus(None, "icount"), guest_cpus(None, "real"), guest_cpus(4, "icount")) == (1, 2, 4)


def test_guests_at_once_are_one_per_host_cpu():
    """One guest per host CPU (a guest keeps about one core busy), never 0 and never more than the kernels."""
    assert default_jobs(4, host_cpus=2) == 2
    assert default_jobs(3, host_cpus=8) == 3 and default_jobs(9, host_cpus=8) == 8
    assert default_jobs(1, host_cpus=2) == 1
