"""The test x kernel table and the per-kernel lines printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from .junit import KernelReport

CELL = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}


def matrix_table(reports: list[KernelReport], max_rows: int = 80) -> list[str]:
    """A text table, one row per test and one column per kernel.

    With many tests only the rows whose outcome is not `pass` everywhere are listed.
    """
    kernels = [r.kernel for r in reports]
    cells: dict[str, dict[str, str]] = {}
    for report in reports:
        for test in report.tests:
            cells.setdefault(test.test_id, {})[report.kernel] = CELL[test.outcome]
    rows = sorted(cells)
    note = ""
    if len(rows) > max_rows:
        uniform = [t for t in rows if all(cells[t].get(k) == "pass" for k in kernels)]
        rows = [t for t in rows if t not in uniform]
        note = f"({len(uniform)} tests passing on every kernel not listed)"
    if not rows:
        return [note] if note else []
    width = max(len(t) for t in [*rows, "test"])
    widths = [max(len(k), 5) for k in kernels]
    lines = ["test".ljust(width) + "  " + "  ".join(k.ljust(w) for k, w in zip(kernels, widths))]
    for test in rows:
        lines.append(test.ljust(width) + "  " + "  ".join(
            cells[test].get(k, "-").ljust(w) for k, w in zip(kernels, widths)))
    if note:
        lines.append(note)
    return lines


def totals(reports: list[KernelReport]) -> dict[str, int]:
    out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    for report in reports:
        for key in out:
            out[key] += report.count(key)
    return out


def skip_reasons(report: KernelReport) -> dict[str, int]:
    """Each distinct skip reason of one kernel, with how many tests it skipped."""
    reasons: dict[str, int] = {}
    for test in report.tests:
        if test.outcome == "skipped":
            reason = test.message.removeprefix("Skipped: ") or "no reason given"
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


class Outcome(Protocol):
    """How one kernel's guest ended, as the closing lines need it: a `launch.GuestOutcome` of this run, or a
    `merge.KernelRun` read back from a run directory."""

    kernel: str
    status: str  # passed, failed, no-tests, panic, oops, hung, crashed
    reason: str
    seconds: float
    seconds_to_init: float | None
    seconds_to_first_test: float | None
    console_log: Path
    console_tail: Sequence[str]

    @property
    def ok(self) -> bool: ...


def entries(outcomes: Sequence[Outcome], accel: str, version: str) -> dict[str, dict]:
    """summary.json: per kernel its status and the reason for it, the timings, accel and QEMU version.

    The reason lets `report merge` rebuild a boot failure's JUnit error exactly as the run wrote it.
    """
    return {o.kernel: {"status": o.status, "reason": o.reason, "seconds": round(o.seconds, 2),
                       "seconds_to_init": o.seconds_to_init, "seconds_to_first_test": o.seconds_to_first_test,
                       "accel": accel, "qemu": version} for o in outcomes}


def closing_lines(outcomes: Sequence[Outcome], reports: Sequence[KernelReport], junit_path: Path) -> list[str]:
    """What a run prints at its end: the test x kernel table, one line per kernel (its skips, and for a
    failure its cause, failed tests and console log), the merged JUnit path, the totals."""
    lines: list[str] = []
    table = matrix_table(list(reports))
    if table:
        lines += ["", *table]
    lines.append("")
    for o, rep in zip(outcomes, reports):
        lines += _kernel_lines(o, rep)
    lines.append(f"JUnit XML: {junit_path}")
    t = totals(list(reports))
    lines.append(f"{t['passed']} passed, {t['failed'] + t['error']} failed, {t['skipped']} skipped")
    return lines


def _kernel_lines(o: Outcome, rep: KernelReport) -> list[str]:
    counts = f"{rep.count('passed')} passed, {rep.count('failed') + rep.count('error')} failed, " \
             f"{rep.count('skipped')} skipped"
    first = f"{o.seconds_to_first_test:.1f}" if o.seconds_to_first_test else "-"
    runtime = "".join(f"; {k} {v}" for k, v in rep.properties.items() if k in ("runtime", "sabotage"))
    lines = [f"{o.kernel:>8}: {o.status:<8} {counts}; first test at {first} s, whole run {o.seconds:.1f} s{runtime}"]
    # Skips are listed per kernel: a feature missing on an old kernel must be visible, not hidden.
    for reason, count in skip_reasons(rep).items():
        lines.append(f"{'':>8}  skipped {count}x: {reason}")
    if o.ok:
        return lines
    failures = [t for t in rep.tests if t.outcome in ("failed", "error")]
    failed = [t.test_id for t in failures]
    named = f": {', '.join(failed[:5])}" + (f" and {len(failed) - 5} more" if len(failed) > 5 else "") \
        if failed and o.status in ("failed", "oops") else ""
    lines.append(f"{'':>8}  cause: {o.reason}{named}")
    # The first line of each failure's message: a CI log that keeps only the output still says why.
    for t in failures[:5]:
        why = (t.message.splitlines() or ["(no message)"])[0]
        lines.append(f"{'':>8}  {t.outcome} {t.test_id}: {why[:240]}")
    lines.append(f"{'':>8}  console log: {o.console_log}")
    if o.status in ("panic", "crashed", "hung"):
        lines += [f"{'':>8}  | {line}" for line in list(o.console_tail)[-12:]]
    return lines
