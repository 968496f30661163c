"""Live progress: plain lines in a CI log (collected, each failure, every tenth), a redrawn line on a terminal."""

from __future__ import annotations

import io

from harness.progress import CLEAR_LINE, Progress
from harness.vm.console import ConsoleState


def feed(progress: Progress, kernel: str, state: ConsoleState, lines: list[str]) -> None:
    """Pass console lines through the state, telling progress of each marker as run_guest does."""
    for line in lines:
        mark = state.feed(line)
        if mark:
            progress.console(kernel, mark, state)


def results(count: int, outcome: str = "PASSED", start: int = 0) -> list[str]:
    return [f"suites/test_a.py::test_{i} {outcome} [ 10%]" for i in range(start, start + count)]


def test_without_a_terminal_milestones_are_plain_lines():
    """A CI log gets: the collected count, each failure by name, and a line per tenth of the tests."""
    lines: list[str] = []
    progress = Progress(["6.12"], lines.append, stream=io.StringIO(), tty=False, clock=lambda: 100.0)
    progress.booting("6.12")
    state = ConsoleState()
    feed(progress, "6.12", state, ["collected 20 items", *results(3), *results(1, "FAILED", 3), *results(16, start=4)])
    assert lines[0] == "[6.12] 20 tests collected after 0 s"
    assert "[6.12] FAILED suites/test_a.py::test_3 (4/20 done)" in lines
    steps = [line for line in lines if "tests, 1 failed after" in line or "tests after" in line]
    assert len(steps) == 9  # 2/20 ... 18/20; the last tenth is the run's own "passed after" line
    assert steps[0] == "[6.12] 2/20 tests after 0 s"


def test_on_a_terminal_one_status_line_is_redrawn_and_messages_clear_it():
    """The status line names every kernel's state; a message clears it first, and close() leaves it clean."""
    stream, lines = io.StringIO(), []
    now = [0.0]
    progress = Progress(["5.10", "6.12"], lines.append, stream=stream, tty=True, clock=lambda: now[0])
    progress.booting("5.10")
    now[0] = 12.0
    state = ConsoleState()
    feed(progress, "5.10", state, ["collected 4 items", *results(1, "FAILED")])
    drawn = stream.getvalue().split(CLEAR_LINE)[-1]
    assert drawn == "5.10: 1/4 tests, 1 failed 12 s | 6.12: waiting"
    progress.message("[6.12] booting")
    assert lines == ["[6.12] booting"] and stream.getvalue().count(CLEAR_LINE) >= 3
    progress.close()
    assert stream.getvalue().endswith(CLEAR_LINE)
