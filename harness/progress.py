"""Live progress of a run's guests: one redrawn status line on a terminal, plain milestone lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time

from .vm.console import ConsoleState

CLEAR_LINE = "\r\033[K"
REDRAW_SECONDS = 0.5  # a terminal line redrawn more often only flickers
PLAIN_STEP = 0.10  # without a terminal, a line per tenth of the tests (CI logs stay short)


class Progress:
    """Per kernel: waiting, booting, tests done of total and failures so far, read from its console.

    `log` prints one whole line (the run's other messages go through `message` so the status line is
    cleared first and drawn again after). Thread-safe: each guest's console reader calls `console`."""

    def __init__(self, kernels: list[str], log=print, stream=None, tty: bool | None = None, clock=time.monotonic):
        self._stream = stream or sys.stdout
        self._tty = self._stream.isatty() if tty is None else tty
        self._log, self._clock = log, clock
        self._lock = threading.Lock()
        self._status = {kernel: "waiting" for kernel in kernels}
        self._started: dict[str, float] = {}
        self._reported_step: dict[str, int] = {}
        self._finished: set[str] = set()
        self._drawn_at = 0.0

    def message(self, line: str) -> None:
        """Print a line of the run's own (booting, passed after ...) without garbling the status line."""
        with self._lock:
            self._print(line)

    def booting(self, kernel: str) -> None:
        with self._lock:
            self._started[kernel] = self._clock()
            self._status[kernel] = "booting"
            self._draw(force=True)

    def console(self, kernel: str, mark: str, state: ConsoleState) -> None:
        """A guest's console said something countable (see ConsoleState.feed's markers)."""
        with self._lock:
            if state.tests_total is not None:
                failed = f", {len(state.failed_tests)} failed" if state.failed_tests else ""
                self._status[kernel] = f"{state.tests_done}/{state.tests_total} tests{failed}"
            elif mark == "init":
                self._status[kernel] = "collecting"
            if not self._tty:
                self._plain(kernel, mark, state)
            self._draw(force=mark in ("failure", "collected"))

    def finished(self, kernel: str, status: str) -> None:
        with self._lock:
            self._status[kernel] = status
            self._finished.add(kernel)
            self._draw(force=True)

    def close(self) -> None:
        """Leave the terminal clean for what follows (the summary table)."""
        with self._lock:
            if self._tty:
                self._stream.write(CLEAR_LINE)
                self._stream.flush()

    def _elapsed(self, kernel: str) -> str:
        return f"{self._clock() - self._started.get(kernel, self._clock()):.0f} s"

    def _plain(self, kernel: str, mark: str, state: ConsoleState) -> None:
        if mark == "collected":
            self._log(f"[{kernel}] {state.tests_total} tests collected after {self._elapsed(kernel)}")
        elif mark == "failure":
            self._log(f"[{kernel}] FAILED {state.failed_tests[-1] if state.failed_tests else '?'} "
                      f"({state.tests_done}/{state.tests_total or '?'} done)")
        elif mark == "result" and state.tests_total:
            step = int(state.tests_done / state.tests_total / PLAIN_STEP)
            if step > self._reported_step.get(kernel, 0) and state.tests_done < state.tests_total:
                self._reported_step[kernel] = step
                self._log(f"[{kernel}] {self._status[kernel]} after {self._elapsed(kernel)}")

    def _print(self, line: str) -> None:
        if self._tty:
            self._stream.write(CLEAR_LINE)
        self._log(line)
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if not self._tty or (not force and self._clock() - self._drawn_at < REDRAW_SECONDS):
            return
        self._drawn_at = self._clock()
        parts = [f"{kernel}: {status}" + (f" {self._elapsed(kernel)}" if kernel in self._started
                                          and kernel not in self._finished else "")
                 for kernel, status in self._status.items()]
        self._stream.write(CLEAR_LINE + " | ".join(parts))
        self._stream.flush()
