"""Tests of the run profiles: their knob defaults reach the guests, the host's variables win, deadlines follow."""

import pytest

from harness import profiles
from harness.cli import _options, build_parser
from harness.run import suite_env


def test_profile_defaults_are_overridden_by_the_hosts_variables():
    """A knob set on the host wins over the profile's default; the profile fills in the rest."""
    env = suite_env({"KHARNESS_LIFECYCLE_RUNS": "7", "HOME": "/root"}, profile="ci")
    assert env["KHARNESS_LIFECYCLE_RUNS"] == "7"
    assert env["KHARNESS_BENCH_ROUNDS"] == profiles.PROFILES["ci"].env["KHARNESS_BENCH_ROUNDS"]
    assert "HOME" not in env


def test_full_profile_adds_nothing_and_soak_deepens():
    """full leaves every suite default as the suites set it; soak asks for more of each soak and property."""
    assert suite_env({}, profile="full") == {}
    soak = suite_env({}, profile="soak")
    assert int(soak["KHARNESS_LIFECYCLE_RUNS"]) > 150
    assert soak["KHARNESS_HYPOTHESIS_PROFILE"] == "dev"


def test_unknown_profile_is_named():
    """An unknown profile is refused with the known ones listed."""
    with pytest.raises(ValueError, match="'nightly'.*ci, full, soak"):
        profiles.get("nightly")


@pytest.mark.parametrize("argv, profile, timeout", [
    (["run"], "ci", profiles.PROFILES["ci"].deadline),
    (["run", "--profile", "soak"], "soak", profiles.PROFILES["soak"].deadline),
    (["run", "--profile", "full", "--timeout", "99"], "full", 99.0),
])
def test_deadline_follows_the_profile_unless_given(argv, profile, timeout):
    """--timeout defaults to the profile's deadline; an explicit one wins."""
    opts = _options(build_parser().parse_args(argv))
    assert (opts.profile, opts.timeout) == (profile, timeout)
