"""The kernel-feature probes and the requires() marker's skip reasons."""

from __future__ import annotations

import os

import pytest

from harness import features


def test_every_feature_names_its_first_release():
    """Each feature has a probe and a first release that looks like a kernel version."""
    for feature in features.FEATURES.values():
        major, minor = feature.first_release.split(".")
        assert int(major) >= 3 and int(minor) >= 0  # seccomp filters: 3.5
        assert callable(feature.probe)


def test_unknown_feature_is_an_error_listing_the_known_ones():
    """requires('nonsense') is refused with the list of probe-able features, not a silent pass."""
    with pytest.raises(features.UnknownFeature, match="cgroup.kill"):
        features.has("nonsense")


def test_skip_reason_names_feature_running_release_and_first_release():
    """The skip reason says what is missing, on which kernel, and where it first appeared."""
    reason = features.skip_reason("cgroup.kill")
    assert "cgroup.kill" in reason and "5.14" in reason and os.uname().release in reason


def test_probe_result_is_remembered(monkeypatch):
    """A feature is probed once per process, whatever the number of tests that require it."""
    calls = []
    fake = features.Feature("fake", "9.9", lambda: calls.append(1) or True, "a fake feature")
    monkeypatch.setitem(features.FEATURES, "fake", fake)
    monkeypatch.setattr(features, "_cache", {})
    assert features.has("fake") and features.has("fake")
    assert calls == [1]


def test_time_namespace_probe_matches_proc():
    """The time-namespace probe agrees with /proc/self/ns/time on the running kernel."""
    assert features.has("time_namespace") == os.path.exists("/proc/self/ns/time")


def test_requires_marker_skips_with_reason(pytester):
    """A test marked requires() with an absent feature is reported as skipped with the reason."""
    pytester.makeconftest("pytest_plugins = ['harness.plugin']\n"
                          "from harness import features\n"
                          "features.FEATURES['never'] = features.Feature('never', '99.1', lambda: False, 'x')\n")
    pytester.makepyfile("import pytest\n"
                        "@pytest.mark.requires('never')\n"
                        "def test_a():\n    assert False\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*never (x) is absent from Linux*it arrived in Linux 99.1*"])


def test_test_timeout_fails_a_hung_test(pytester):
    """--test-timeout turns a test that blocks past the limit into a failure naming the limit."""
    pytester.makeconftest("pytest_plugins = ['harness.plugin']\n")
    pytester.makepyfile("import time\n"
                        "def test_hangs():\n    time.sleep(30)\n"
                        "def test_fine():\n    assert True\n")
    result = pytester.runpytest("--test-timeout=1")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*ran past --test-timeout=1 s*"])
