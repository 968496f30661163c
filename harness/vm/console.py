"""Reading a guest console: tee each line to a log and recognise panics, oopses and the guest's markers."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..request import FIRST_TEST_MARKER, INIT_READY as INIT_READY_TEXT

PANIC = re.compile(r"Kernel panic - not syncing")
# The kernel's watchdog on a CPU that has not left kernel code: reported every ~28 s while it lasts.
LOCKUP = re.compile(r"soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*?)\]")
# A CPU stuck this long is a hung guest, not a slow one: the longest legitimate stretch in kernel code seen under
# TCG on 2 loaded cores is far shorter, and the watchdog's first report comes at 20 s. A TCG guest of 6.1 stuck in
# test_cpu_max_caps_a_busy_loop (2026-12-05) reported 48, 75, 104, 130 ... s and never recovered; without this it
# waited for the 2400 s deadline.
STUCK_LIMIT_SECONDS = 120
OOPS = re.compile(r"(\bOops: |\bBUG: |kernel BUG at |general protection fault|WARNING: CPU: \d+ PID)")
INIT_READY = re.compile(re.escape(INIT_READY_TEXT) + r" ([\d.]+) s")
FIRST_TEST = FIRST_TEST_MARKER
# pytest -v's lines: "collected N items" (after \r-separated "collecting" updates), and one result per test,
# "NODEID PASSED [ 12%]", whose NODEID may sit on the line before when the test wrote to the console itself.
COLLECTED = re.compile(r"collected (\d+) items?(?: / \d+ deselected)?(?: / (\d+) selected)?")
RESULT = re.compile(r"(?:^(\S+::\S+) )?(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \(.*\))?\s+\[\s*\d+%\]\s*$")
NODE = re.compile(r"^(\S+::\S+)")


@dataclass
class ConsoleState:
    """What the console said so far."""

    panic: str | None = None
    stuck: str | None = None  # the soft lockup report that passed STUCK_LIMIT_SECONDS
    oops: list[str] = field(default_factory=list)
    init_uptime: float | None = None
    first_test_seen: bool = False
    tail: deque = field(default_factory=lambda: deque(maxlen=40))
    tests_total: int | None = None
    tests_done: int = 0
    failed_tests: list[str] = field(default_factory=list)
    _last_node: str = ""
    _counted: set = field(default_factory=set)

    def feed(self, line: str) -> str | None:
        """Take one console line; return the name of a marker it carries, if any ("result" and "failure" for
        a test's outcome, "collected" for pytest's count, "stuck" for a soft lockup past STUCK_LIMIT_SECONDS)."""
        self.tail.append(line)
        progress = self._progress(line)
        # From the match on: a pytest node id the oops interrupted mid-line is not part of the kernel's message.
        panic = PANIC.search(line) if self.panic is None else None
        if panic:
            self.panic = line[panic.start():].strip()
            return "panic"
        lockup = LOCKUP.search(line)
        if lockup and self.stuck is None and int(lockup.group(2)) >= STUCK_LIMIT_SECONDS:
            self.stuck = line[lockup.start():].strip()
            return "stuck"
        oops = OOPS.search(line)
        if oops:
            self.oops.append(line[oops.start():].strip())
            return "oops"
        m = INIT_READY.search(line)
        if m:
            self.init_uptime = float(m.group(1))
            return "init"
        if FIRST_TEST in line and not self.first_test_seen:
            self.first_test_seen = True
            return "first-test"
        return progress

    def _progress(self, line: str) -> str | None:
        """Count pytest's results; the name of what the line told, if anything."""
        collected = COLLECTED.findall(line)
        if collected:
            found, selected = collected[-1]
            self.tests_total = int(selected or found)  # with -k or -m, what runs is the selected count
            return "collected"
        result = RESULT.search(line)
        if result:
            node, outcome = result.group(1) or self._last_node, result.group(2)
            failed = outcome in ("FAILED", "ERROR")
            # An error at teardown follows the test's own result: the same test, counted once.
            if not node or node not in self._counted:
                self._counted.add(node)
                self.tests_done += 1
            if failed and node not in self.failed_tests:
                self.failed_tests.append(node or "(unnamed test)")
            return "failure" if failed else "result"
        node = NODE.match(line)
        if node:
            self._last_node = node.group(1)
        return None


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Split a byte stream into text lines (the serial console ends them with \\r\\n)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            yield raw.rstrip(b"\r").decode(errors="replace")
    if pending:
        yield pending.rstrip(b"\r").decode(errors="replace")


def parse_log(text: str) -> ConsoleState:
    """The state after a whole saved console log (used on saved boots and panics in unit tests)."""
    state = ConsoleState()
    for line in text.splitlines():
        state.feed(line)
    return state
