"""The run's closing report: a failed test's reason reaches the printed output, not only the JUnit file."""

from __future__ import annotations

from pathlib import Path

from harness.run import report
from harness.vm.launch import GuestOutcome

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2">
<testcase classname="suites.test_a" name="test_ok" time="0.1"/>
<testcase classname="suites.test_a" name="test_slow" time="241.0">
<failure message="harness.plugin.TestTimeout: suites/test_a.py::test_slow ran past --test-timeout=240 s&#10;second line">
traceback</failure></testcase>
</testsuite></testsuites>"""


def test_a_failed_tests_first_message_line_is_printed(tmp_path: Path):
    """A CI log keeps only the output: the failing test is named with the first line of its message."""
    outcome = GuestOutcome("6.12", "failed", "pytest exit status 1", tmp_path / "console.log", 10.0,
                           files={"junit.xml": JUNIT})
    lines: list[str] = []
    status = report([outcome], tmp_path, "tcg", "QEMU 7.2", lines.append)
    assert status == 1
    printed = "\n".join(lines)
    assert "failed suites.test_a::test_slow: harness.plugin.TestTimeout: suites/test_a.py::test_slow ran past " \
           "--test-timeout=240 s" in printed
    assert "second line" not in printed


def test_a_passing_run_prints_no_failure_lines(tmp_path: Path):
    """Nothing failed, nothing quoted: the exit status is 0."""
    junit = JUNIT.split(b"<testcase classname=\"suites.test_a\" name=\"test_slow\"")[0] + b"</testsuite></testsuites>"
    outcome = GuestOutcome("6.12", "passed", "", tmp_path / "console.log", 10.0, files={"junit.xml": junit})
    lines: list[str] = []
    assert report([outcome], tmp_path, "tcg", "QEMU 7.2", lines.append) == 0
    assert not [line for line in lines if " failed suites." in line]


def test_only_the_suite_knobs_of_the_hosts_environment_are_forwarded():
    """SUITE_ENV names what reaches the guests; the rest of the host's environment stays behind."""
    from harness.run import suite_env
    assert suite_env({"KHARNESS_LIFECYCLE_RUNS": "500", "HOME": "/root", "KHARNESS_CACHE": "/c"}) == \
        {"KHARNESS_LIFECYCLE_RUNS": "500"}
