"""Run one guest: start QEMU, tee its console, enforce the deadline, collect results, leave nothing behind."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import channel
from ..request import EXIT_INIT_FAILED, PYTEST_NO_TESTS
from .console import ConsoleState, lines
from .qemu import GuestConfig, argv

PR_SET_PDEATHSIG = 1
_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()


def _die_with_parent() -> None:
    # If the harness is killed outright, the kernel kills QEMU too: no orphan guests.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_all() -> None:
    """Kill every QEMU this process started and wait for it (for Ctrl-C and fatal errors)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        _kill(proc)


def _signal_group(proc: subprocess.Popen) -> None:
    """SIGKILL the guest's process group without waiting (the reader thread's way to end a hung guest)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill(proc: subprocess.Popen) -> None:
    _signal_group(proc)
    proc.wait()
    with _live_lock:
        _live.discard(proc)


@dataclass
class GuestOutcome:
    """How one guest ended, with the timings and what it sent back."""

    kernel: str
    status: str  # passed, failed, no-tests, panic, oops, hung, crashed
    reason: str
    console_log: Path
    seconds: float
    seconds_to_init: float | None = None
    seconds_to_first_test: float | None = None
    exit_status: int | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    console_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def classify(state: ConsoleState, results: channel.Results, timed_out: bool, qemu_status: int | None,
             stderr: str, timeout: float) -> tuple[str, str]:
    """Decide the outcome from what the console showed and what the results channel carried."""
    if state.panic:
        return "panic", f"kernel panic: {state.panic}"
    if state.stuck:
        return "hung", (f"the guest's kernel reported a CPU stuck in kernel code ({state.stuck}); QEMU was killed "
                        f"then, not at the {timeout:.0f} s deadline")
    if timed_out:
        return "hung", f"no result within the {timeout:.0f} s deadline; QEMU was killed"
    if results.exit_status is None:
        why = "; ".join(results.errors) or (stderr.strip().splitlines() or ["no result sent"])[-1]
        return "crashed", f"the guest stopped without reporting (QEMU status {qemu_status}): {why}"
    if results.errors:
        return "crashed", "results damaged in transit: " + "; ".join(results.errors)
    if state.oops:
        return "oops", f"kernel oops/BUG/WARNING during the run: {state.oops[0]}"
    if results.exit_status == 0:
        return "passed", "all tests passed"
    if results.exit_status == PYTEST_NO_TESTS:
        return "no-tests", f"pytest collected no test (exit status {PYTEST_NO_TESTS})"
    if results.exit_status == EXIT_INIT_FAILED:
        return "crashed", f"the guest init failed (status {EXIT_INIT_FAILED}; its traceback is in the console log)"
    return "failed", f"pytest exit status {results.exit_status}"


def run_guest(name: str, cfg: GuestConfig, out_dir: Path, timeout: float, verbose: bool = False,
              binary: str | None = None, on_console=None, params: dict | None = None) -> GuestOutcome:
    """Boot one guest to completion or deadline; the QEMU process is gone when this returns.
    `on_console(mark, state)` hears each marker the console carries (init, collected, result, failure ...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "console.log"
    cfg.results.unlink(missing_ok=True)
    cmd = argv(cfg, params, binary=binary)
    (out_dir / "qemu-argv.txt").write_text(" ".join(cmd) + "\n")
    state = ConsoleState()
    marks: dict[str, float] = {}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_die_with_parent)
    with _live_lock:
        _live.add(proc)
    stderr_chunks: list[bytes] = []

    def read_console() -> None:
        with log_path.open("w") as log:
            for line in lines(iter(lambda: proc.stdout.read1(65536), b"")):
                log.write(line + "\n")
                log.flush()
                if verbose:
                    sys.stdout.write(f"[{name}] {line}\n")
                    sys.stdout.flush()
                mark = state.feed(line)
                if mark == "stuck":
                    _signal_group(proc)  # hung for good: the deadline would only waste the rest of its time
                if mark and mark not in marks:
                    marks[mark] = time.monotonic() - started
                if mark and on_console is not None:
                    on_console(mark, state)

    reader = threading.Thread(target=read_console, daemon=True)
    err_reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    err_reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # A panic reboots into -no-reboot and QEMU exits; anything still running here is killed.
        _kill(proc)
    reader.join(timeout=5)
    err_reader.join(timeout=5)
    seconds = time.monotonic() - started
    results = channel.decode(cfg.results.read_bytes() if cfg.results.exists() else b"")
    stderr = b"".join(stderr_chunks).decode(errors="replace")
    if stderr.strip():
        (out_dir / "qemu-stderr.txt").write_text(stderr)
    status, reason = classify(state, results, timed_out, proc.returncode, stderr, timeout)
    for fname, data in results.files.items():
        (out_dir / fname).write_bytes(data)
    return GuestOutcome(
        kernel=name, status=status, reason=reason, console_log=log_path, seconds=seconds,
        seconds_to_init=marks.get("init"), seconds_to_first_test=marks.get("first-test"),
        exit_status=results.exit_status, files=results.files, console_tail=list(state.tail),
    )
