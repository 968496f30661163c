"""Run profiles (`--profile ci|full|soak`): how many repetitions the suites' soak and property tests make.

Every test runs in every profile; a profile only sets the defaults of the suites' repetition knobs (the
KHARNESS_* variables of SUITE_ENV), which a variable set on the host still overrides."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """A profile's knob defaults and the guest deadline that fits them."""

    name: str
    description: str
    env: dict[str, str]
    deadline: float  # seconds per guest under TCG, the slowest case


PROFILES = {
    "ci": Profile(
        "ci", "CI: every test, short soaks (the default of `run` and `tox -e kernel`)",
        {
            # A leaking run leaves its mount, cgroup, process or state entry behind every time: 40 runs catch it
            # as surely as 150 (the count only finds a leak that happens once in many runs: `soak`).
            "KHARNESS_LIFECYCLE_RUNS": "40",
            # Medians and IQRs per kernel for the regression record; `tox -e bench` keeps 30 rounds.
            "KHARNESS_BENCH_ROUNDS": "10",
        },
        deadline=2400.0),
    "full": Profile(
        "full", "the suites' own defaults (150 lifecycle runs, 30 benchmark rounds)", {}, deadline=2700.0),
    "soak": Profile(
        "soak", "long soaks: 1000 lifecycle runs, hypothesis's dev profile (60 examples), 20 network examples",
        {
            "KHARNESS_LIFECYCLE_RUNS": "1000",
            "KHARNESS_HYPOTHESIS_PROFILE": "dev",
            "KHARNESS_NETWORK_EXAMPLES": "20",
            "KHARNESS_CONFORMANCE_EXAMPLES": "40",
            "KHARNESS_TEST_TIMEOUT": "1800",
        },
        deadline=10800.0),
}

DEFAULT = "ci"


def get(name: str) -> Profile:
    """The named profile; ValueError lists the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"--profile {name!r}: expected one of {', '.join(PROFILES)}") from None


def guest_env(profile: Profile, host_env: dict[str, str]) -> dict[str, str]:
    """The knobs a guest gets: the profile's defaults, overridden by those set on the host."""
    return {**profile.env, **host_env}
