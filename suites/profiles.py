"""Hypothesis profiles: `ci` (derandomized, bounded, no deadline: TCG is 20x slower) and `dev`."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def register_profiles(name: str) -> None:
    """Register both profiles and load `name` (from --kharness-profile or KHARNESS_HYPOTHESIS_PROFILE)."""
    settings.register_profile("ci", derandomize=True, max_examples=10, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.register_profile("dev", max_examples=60, deadline=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture])
    settings.load_profile(name)
