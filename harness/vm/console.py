"""Reading a guest console: tee each line to a log and recognise panics, oopses and the guest's markers."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..request import FIRST_TEST_MARKER, INIT_READY as INIT_READY_TEXT

PANIC = re.compile(r"Kernel panic - not syncing")
OOPS = re.compile(r"(\bOops: |\bBUG: |kernel BUG at |general protection fault|WARNING: CPU: \d+ PID)")
INIT_READY = re.compile(re.escape(INIT_READY_TEXT) + r" ([\d.]+) s")
FIRST_TEST = FIRST_TEST_MARKER
# Kernel log lines carry a timestamp prefix when printk.time is on; strip it for display only.
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s*")


@dataclass
class ConsoleState:
    """What the console said so far."""

    panic: str | None = None
    oops: list[str] = field(default_factory=list)
    init_uptime: float | None = None
    first_test_seen: bool = False
    tail: deque = field(default_factory=lambda: deque(maxlen=40))

    def feed(self, line: str) -> str | None:
        """Take one console line; return the name of a marker it carries, if any."""
        self.tail.append(line)
        if self.panic is None and PANIC.search(line):
            self.panic = _TIMESTAMP.sub("", line).strip()
            return "panic"
        if OOPS.search(line):
            self.oops.append(_TIMESTAMP.sub("", line).strip())
            return "oops"
        m = INIT_READY.search(line)
        if m:
            self.init_uptime = float(m.group(1))
            return "init"
        if FIRST_TEST in line and not self.first_test_seen:
            self.first_test_seen = True
            return "first-test"
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
