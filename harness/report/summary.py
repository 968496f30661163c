"""The test x kernel table and the per-kernel lines printed at the end of a run."""

from __future__ import annotations

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
