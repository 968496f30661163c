"""Tests of console reading on saved logs of real boots and panics, line splitting, and oops detection."""

from pathlib import Path

from harness.vm.console import ConsoleState, lines, parse_log

TESTDATA = Path(__file__).parent / "testdata"


def test_passed_boot_log():
    """A real 6.1 boot that passed: init uptime parsed, first test seen, no panic and no oops."""
    state = parse_log((TESTDATA / "boot-6.1-passed.log").read_text())
    assert state.init_uptime == 3.91
    assert state.first_test_seen is True
    assert state.panic is None
    assert state.oops == []
    assert any("powering off, status 0" in t for t in state.tail)


def test_panic_log_without_init():
    """A real 6.1 panic (no root fs, no init): the panic line is kept without its timestamp."""
    state = parse_log((TESTDATA / "panic-6.1-no-init.log").read_text())
    assert state.panic is not None
    assert state.panic.startswith("Kernel panic - not syncing: VFS: Unable to mount root fs")
    assert not state.panic.startswith("[")
    assert state.init_uptime is None
    assert state.first_test_seen is False


def test_saved_boot_log_read_as_bytes_through_lines():
    """Feeding the saved log's bytes through lines() in odd chunks gives the same state as parse_log."""
    raw = (TESTDATA / "boot-6.1-passed.log").read_bytes()
    state = ConsoleState()
    marks = [state.feed(line) for line in lines(raw[i:i + 7] for i in range(0, len(raw), 7))]
    assert "init" in marks and "first-test" in marks
    assert state.init_uptime == 3.91
    assert not any(line.endswith("\r") for line in state.tail)


def test_lines_joins_chunks_and_strips_carriage_returns():
    """Lines split across chunks are joined; \\r\\n endings lose the \\r; a last partial line is kept."""
    chunks = [b"first li", b"ne\r", b"\nsecond\r\nthi", b"rd\n\nlast"]
    assert list(lines(chunks)) == ["first line", "second", "third", "", "last"]


def test_lines_keeps_multibyte_characters_split_across_chunks():
    """A UTF-8 character split between two chunks decodes whole."""
    data = "µs résumé\n".encode()
    assert list(lines([data[:1], data[1:3], data[3:]])) == ["µs résumé"]


def test_lines_of_empty_stream():
    """An empty stream yields no lines."""
    assert list(lines([b"", b""])) == []


def test_oops_and_bug_lines_are_recorded():
    """Oops, BUG, kernel BUG at, general protection fault and WARNING lines are each recorded as oopses."""
    state = ConsoleState()
    samples = [
        "[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008",
        "[   12.345700] Oops: 0000 [#1] PREEMPT SMP NOPTI",
        "kernel BUG at mm/slub.c:123!",
        "general protection fault, probably for non-canonical address 0xdead: 0000 [#2] SMP",
        "WARNING: CPU: 1 PID: 234 at kernel/cgroup/cgroup.c:6000 cgroup_x+0x1/0x2",
    ]
    assert [state.feed(s) for s in samples] == ["oops"] * 5
    assert state.oops[0] == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    assert state.oops[1].startswith("Oops: 0000")
    assert state.panic is None


def test_ordinary_lines_are_not_oopses():
    """Text that merely mentions bugs or warnings is not recorded."""
    state = ConsoleState()
    for line in ("DEBUG: nothing", "test_warning PASSED", "no BUGs here", "WARNING: deprecated option"):
        assert state.feed(line) is None
    assert state.oops == []


def test_first_panic_is_kept_and_markers_reported_once():
    """Only the first panic line is kept, and init/first-test markers report their names."""
    state = ConsoleState()
    assert state.feed("[ 1.0] Kernel panic - not syncing: Attempted to kill init!") == "panic"
    assert state.feed("[ 1.1] Kernel panic - not syncing: again") is None
    assert state.panic == "Kernel panic - not syncing: Attempted to kill init!"
    fresh = ConsoleState()
    assert fresh.feed("kharness-guest: init ready at 12.5 s uptime") == "init"
    assert fresh.init_uptime == 12.5
    assert fresh.feed("KHARNESS-FIRST-TEST suites/x.py::t") == "first-test"
    assert fresh.feed("KHARNESS-FIRST-TEST suites/x.py::t") is None


def test_tail_keeps_last_40_lines():
    """The state keeps the last 40 console lines for the report."""
    state = ConsoleState()
    for i in range(100):
        state.feed(f"line {i}")
    assert list(state.tail) == [f"line {i}" for i in range(60, 100)]


def test_pytest_progress_is_counted_from_the_console():
    """collected N items sets the total; each result line counts once (teardown errors too), its node id
    taken from the line before when the test wrote to the console in between; failures are named."""
    state = parse_log("\n".join([
        "collecting ... \rcollecting 3 items    \rcollected 4 items      ",
        "suites/test_a.py::test_one KHARNESS-FIRST-TEST suites/test_a.py::test_one",
        "FAILED [ 25%]",
        "suites/test_a.py::test_two PASSED [ 50%]",
        "suites/test_a.py::test_two ERROR [ 50%]",
        "[   12.3] veth0: link up",
        "suites/test_a.py::test_three SKIPPED (no cgroup.kill) [ 75%]",
    ]))
    assert state.tests_total == 4
    assert state.tests_done == 3
    assert state.failed_tests == ["suites/test_a.py::test_one", "suites/test_a.py::test_two"]
    assert parse_log("collected 41 items / 37 deselected / 4 selected   ").tests_total == 4


def test_an_oops_that_interrupts_a_pytest_line_is_quoted_from_its_own_words():
    """A node id printed before the oops on the same line is not part of the reason; nor is the timestamp."""
    state = parse_log("suites/test_x.py::test_y[mount] [  144.559277] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI")
    assert state.oops == ["Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"]


def test_soft_lockup_past_the_limit_marks_the_guest_stuck():
    """The saved 6.1 console whose CPU#0 stayed in kernel code: the watchdog's reports under the limit (48, 75,
    104 s) are oopses, the first at or past 120 s (130 s) makes the guest stuck, with the kernel's own words."""
    state = parse_log((TESTDATA / "softlockup-6.1-cpu-max.log").read_text())
    assert state.stuck == "soft lockup - CPU#0 stuck for 130s! [python:87]"
    assert sum("soft lockup" in oops for oops in state.oops) == 3
    assert state.panic is None


def test_a_short_soft_lockup_is_only_an_oops():
    """A lockup the kernel reports once, at 48 s, and then recovers from is not a hang."""
    state = ConsoleState()
    assert state.feed("[   68.667540] watchdog: BUG: soft lockup - CPU#1 stuck for 48s! [runc:512]") == "oops"
    assert state.stuck is None
