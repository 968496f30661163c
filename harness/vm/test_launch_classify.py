"""Tests of a guest's outcome classification from the console state and the results channel."""

import pytest

from harness.channel import Results
from harness.vm.console import ConsoleState
from harness.vm.launch import GuestOutcome, classify


def state(panic=None, oops=()) -> ConsoleState:
    """A console state with an optional panic line and oops lines."""
    s = ConsoleState()
    s.panic = panic
    s.oops = list(oops)
    return s


def results(exit_status=None, errors=()) -> Results:
    """Results with an exit status and errors."""
    return Results(files={}, exit_status=exit_status, errors=list(errors))


def run(console=None, res=None, timed_out=False, qemu_status=0, stderr="", timeout=300.0):
    """classify() with defaults for a clean run."""
    return classify(console or state(), res or results(0), timed_out, qemu_status, stderr, timeout)


def test_panic_wins_over_everything():
    """A kernel panic is the outcome even with a timeout, oopses and a sent exit status."""
    status, reason = run(state(panic="Kernel panic - not syncing: Attempted to kill init!", oops=["BUG: x"]),
                         results(0), timed_out=True)
    assert status == "panic"
    assert "Attempted to kill init" in reason


def test_timeout_is_hung():
    """A guest still running at the deadline is hung, and the reason gives the deadline."""
    status, reason = run(res=results(None), timed_out=True, qemu_status=-9, timeout=600)
    assert status == "hung"
    assert "600 s" in reason


def test_timeout_is_hung_even_with_results():
    """A guest that sent its status but did not power off before the deadline is still hung."""
    assert run(res=results(0), timed_out=True)[0] == "hung"


def test_no_exit_status_is_crashed_with_qemu_stderr():
    """Without an exit status the guest crashed; the reason carries QEMU's status and last stderr line."""
    status, reason = run(res=results(None), qemu_status=1, stderr="warning\nqemu: could not load kernel\n")
    assert status == "crashed"
    assert "QEMU status 1" in reason
    assert "could not load kernel" in reason


def test_no_exit_status_prefers_channel_errors():
    """When the channel reported problems they explain the crash rather than stderr."""
    status, reason = run(res=results(None, ["junit.xml: truncated"]), stderr="noise")
    assert status == "crashed"
    assert "junit.xml: truncated" in reason and "noise" not in reason


def test_no_exit_status_and_nothing_said():
    """A silent crash still has a reason."""
    status, reason = run(res=results(None), stderr="")
    assert status == "crashed" and "no result sent" in reason


def test_damaged_results_are_crashed():
    """An exit status with damaged files is a crash naming the damage."""
    status, reason = run(res=results(0, ["junit.xml: size or sha256 mismatch"]))
    assert status == "crashed"
    assert reason.startswith("results damaged in transit") and "junit.xml" in reason


def test_oops_beats_a_passing_run():
    """An oops during a run whose tests passed makes the outcome oops."""
    status, reason = run(state(oops=["BUG: unable to handle page fault", "Oops: 0002"]), results(0))
    assert status == "oops"
    assert "BUG: unable to handle page fault" in reason


@pytest.mark.parametrize("exit_status, expected", [
    (0, "passed"), (5, "no-tests"), (1, "failed"), (2, "failed"), (3, "failed"), (4, "failed"), (100, "crashed"),
])
def test_exit_status_outcomes(exit_status, expected):
    """pytest's exit status: 0 passed, 5 no tests, anything else failed (3 is pytest's INTERNAL_ERROR); the
    init's own failure status (100) is a crash."""
    status, reason = run(res=results(exit_status))
    assert status == expected
    if expected == "failed":
        assert f"pytest exit status {exit_status}" == reason


def test_outcome_ok_only_when_passed(tmp_path):
    """GuestOutcome.ok is true for passed and false for every other status."""
    def outcome(status):
        return GuestOutcome("6.1", status, "", tmp_path / "console.log", 1.0)
    assert outcome("passed").ok
    assert not any(outcome(s).ok for s in ("failed", "no-tests", "panic", "oops", "hung", "crashed"))
