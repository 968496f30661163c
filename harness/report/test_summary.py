"""Tests of the test x kernel table and the outcome totals printed at the end of a run."""

from harness.report import junit
from harness.report.junit import KernelReport
from harness.report.summary import matrix_table, totals


def report(kernel: str, **outcomes: str) -> KernelReport:
    """A kernel report from test_id=outcome pairs (ids use '__' for '::')."""
    return KernelReport(kernel, [junit.TestResult(t.replace("__", "::"), o) for t, o in outcomes.items()])


REPORTS = [
    report("6.1", s__test_a="passed", s__test_b="failed", s__test_c="skipped"),
    report("6.12", s__test_a="passed", s__test_b="passed", s__test_d="error"),
]


def columns(line: str) -> list[str]:
    """The whitespace-separated cells of a table line."""
    return line.split()


def test_table_has_header_and_one_row_per_test_sorted():
    """The header names the kernels in order; each test has a row with one cell per kernel, '-' where absent."""
    table = matrix_table(REPORTS)
    assert columns(table[0]) == ["test", "6.1", "6.12"]
    rows = [columns(line) for line in table[1:]]
    assert rows == [
        ["s::test_a", "pass", "pass"],
        ["s::test_b", "FAIL", "pass"],
        ["s::test_c", "skip", "-"],
        ["s::test_d", "-", "ERROR"],
    ]


def test_table_columns_are_aligned():
    """Every kernel column starts at the same offset on every line."""
    table = matrix_table(REPORTS)
    start = table[0].index("6.12")
    assert all(len(line) >= start for line in table)
    assert [line[start:].split()[0] for line in table] == ["6.12", "pass", "pass", "-", "ERROR"]


def test_table_columns_aligned_with_short_test_ids():
    """With test ids shorter than 'test' the kernel column still lines up under its header."""
    table = matrix_table([report("6.1", a="passed", bb="failed")])
    start = table[0].index("6.1")
    assert [line[start:].split()[0] for line in table] == ["6.1", "pass", "FAIL"]


def test_many_tests_list_only_the_not_uniformly_passing():
    """Above max_rows, rows passing on every kernel are left out and counted in a note."""
    a = report("6.1", **{f"t{i:02}": "passed" for i in range(10)}, bad="failed", gone="passed")
    b = report("6.12", **{f"t{i:02}": "passed" for i in range(10)}, bad="passed")
    table = matrix_table([a, b], max_rows=5)
    assert [columns(line)[0] for line in table[1:-1]] == ["bad", "gone"]
    assert columns(table[2]) == ["gone", "pass", "-"]
    assert table[-1] == "(10 tests passing on every kernel not listed)"


def test_few_tests_list_every_row():
    """At or below max_rows every test is listed, passing ones included, and there is no note."""
    table = matrix_table(REPORTS, max_rows=4)
    assert len(table) == 5
    assert not any(line.startswith("(") for line in table)


def test_all_passing_above_limit_gives_only_the_note():
    """When every one of many tests passes everywhere, only the note remains."""
    many = report("6.1", **{f"t{i}": "passed" for i in range(6)})
    assert matrix_table([many], max_rows=3) == ["(6 tests passing on every kernel not listed)"]


def test_no_tests_gives_no_table():
    """Reports without tests give an empty table."""
    assert matrix_table([KernelReport("6.1"), KernelReport("6.12")]) == []


def test_totals_sum_outcomes_over_kernels():
    """totals() adds up each outcome over every kernel."""
    assert totals(REPORTS) == {"passed": 3, "failed": 1, "skipped": 1, "error": 1}
    assert totals([]) == {"passed": 0, "failed": 0, "skipped": 0, "error": 0}


def test_skip_reasons_are_grouped_and_counted():
    """skip_reasons() groups a kernel's skips by reason and counts them (so 5.10's gaps show)."""
    from harness.report.junit import KernelReport, TestResult
    from harness.report.summary import skip_reasons
    report = KernelReport("5.10", [
        TestResult("a::t1", "skipped", "Skipped: cgroup.kill absent"),
        TestResult("a::t2", "skipped", "Skipped: cgroup.kill absent"),
        TestResult("a::t3", "skipped", ""),
        TestResult("a::t4", "passed"),
    ])
    assert skip_reasons(report) == {"cgroup.kill absent": 2, "no reason given": 1}
