"""Tests of `python -m harness report merge`: shards of a CI matrix merged into what one unsharded run writes."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.bench import synthetic
from harness.report import junit, merge, summary
from harness.report.cli import main
from harness.run import report as run_report
from harness.vm.launch import GuestOutcome

PASSING = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" errors="0" failures="0" skipped="1">
<properties><property name="runtime" value="bundled"/></properties>
<testcase classname="suites.test_ns_pid" name="test_pid_one" time="0.5"/>
<testcase classname="suites.test_cg_core" name="test_kill" time="0.0">
<skipped type="pytest.skip" message="Skipped: requires cgroup.kill (Linux 5.14)">skip</skipped></testcase>
<testcase classname="suites.test_cg_cpu" name="test_weight" time="1.0"/>
</testsuite></testsuites>"""

FAILING = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" errors="0" failures="1" skipped="1">
<properties><property name="runtime" value="crun"/><property name="sabotage" value="namespace:pid"/></properties>
<testcase classname="suites.test_ns_pid" name="test_pid_one" time="0.5">
<failure message="AssertionError: pid 1 is the host's init&#10;second line">traceback</failure></testcase>
<testcase classname="suites.test_cg_core" name="test_kill" time="0.0">
<skipped type="pytest.skip" message="Skipped: requires cgroup.kill (Linux 5.14)">skip</skipped></testcase>
<testcase classname="suites.test_cg_cpu" name="test_weight" time="1.0"/>
</testsuite></testsuites>"""

PANIC_TAIL = [f"[    {n}.000000] line {n}" for n in range(50)] + \
    ["[   50.000000] Kernel panic - not syncing: Fatal exception in interrupt"]


def outcome(run_dir: Path, kernel: str, status: str, xml: bytes | None = None, reason: str = "",
            tail: list[str] | None = None) -> GuestOutcome:
    """A guest's outcome, with the files launch.run_guest leaves in run_dir/kernel (console, own JUnit)."""
    out = run_dir / kernel
    out.mkdir(parents=True, exist_ok=True)
    lines = tail or [f"[    1.000000] Linux version {kernel}", "powering off, status 0"]
    (out / "console.log").write_text("".join(line + "\n" for line in lines))
    (out / "qemu-argv.txt").write_text("qemu-system-x86_64 -kernel vmlinuz\n")
    files = {}
    if xml is not None:
        (out / "junit.xml").write_bytes(xml)
        files["junit.xml"] = xml
    reason = reason or {"passed": "all tests passed", "failed": "pytest exit status 1"}.get(status, status)
    return GuestOutcome(kernel, status, reason, out / "console.log", 61.25, seconds_to_init=3.5,
                        seconds_to_first_test=12.0, files=files, console_tail=lines[-40:])


def unsharded(run_dir: Path, specs: list[tuple], reasons: bool = True) -> tuple[list[GuestOutcome], list[str], int]:
    """A run directory as one `python -m harness run` of these kernels writes it, its printed lines, its status.

    Without `reasons`, summary.json is stripped of each kernel's reason, as runs before 2026-12-04 wrote it.
    """
    outcomes = [outcome(run_dir, *spec) for spec in specs]
    lines: list[str] = []
    status = run_report(outcomes, run_dir, "tcg", "QEMU emulator version 7.2.22", lines.append)
    if not reasons:
        entries = json.loads((run_dir / "summary.json").read_text())
        for entry in entries.values():
            del entry["reason"]
        (run_dir / "summary.json").write_text(json.dumps(entries, indent=1))
    return outcomes, lines, status


def cases_of(junit_xml: Path) -> list[tuple[str, str, str, str, str]]:
    """Every test of a merged JUnit file: suite, classname, name, outcome tag, message."""
    found = []
    for suite in ET.parse(junit_xml).getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            result = next(iter(case), None)
            found.append((suite.get("name"), case.get("classname"), case.get("name"),
                          result.tag if result is not None else "passed",
                          result.get("message", "") if result is not None else ""))
    return found


def counts_of(junit_xml: Path) -> list[dict]:
    return [dict(s.attrib) for s in ET.parse(junit_xml).getroot().iter("testsuite")]


def test_two_shards_merge_into_what_one_unsharded_run_writes(tmp_path: Path, capsys):
    """Merged shards give the unsharded run's tests, outcomes, skip messages, counts, summary and printed lines."""
    specs = [("6.1", "passed", PASSING), ("6.12", "failed", FAILING)]
    _, single_lines, single_status = unsharded(tmp_path / "single", specs)
    unsharded(tmp_path / "shard-6.1", specs[:1])
    unsharded(tmp_path / "shard-6.12", specs[1:])
    out = tmp_path / "merged"
    status = main(["merge", str(tmp_path / "shard-6.1"), str(tmp_path / "shard-6.12"), "--output", str(out)])
    assert status == single_status == 1
    assert cases_of(out / "junit.xml") == cases_of(tmp_path / "single" / "junit.xml")
    assert counts_of(out / "junit.xml") == counts_of(tmp_path / "single" / "junit.xml")
    assert (out / "junit.xml").read_bytes() == (tmp_path / "single" / "junit.xml").read_bytes()
    assert json.loads((out / "summary.json").read_text()) == \
        json.loads((tmp_path / "single" / "summary.json").read_text())
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"[merge] 2 kernel(s) from 2 shard(s) into {out}"
    assert printed[1:] == [line.replace(str(tmp_path / "single"), str(out)) for line in single_lines]
    for kernel in ("6.1", "6.12"):
        assert sorted(p.name for p in (out / kernel).iterdir()) == ["console.log", "junit.xml", "qemu-argv.txt"]


def test_every_shard_passed_exits_0(tmp_path: Path, capsys):
    """Exit status 0 only when every kernel's status is passed; the skips are still listed per kernel."""
    unsharded(tmp_path / "a", [("5.10", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.1", "passed", PASSING)])
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("skipped 1x: requires cgroup.kill (Linux 5.14)") == 2
    assert printed.rstrip().endswith("4 passed, 0 failed, 2 skipped")


def test_a_failed_shard_exits_1_and_names_its_failure(tmp_path: Path, capsys):
    """One shard's failed test fails the merge, with the cause and the first line of the failure's message."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.12", "failed", FAILING)])
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "m")]) == 1
    printed = capsys.readouterr().out
    assert "cause: pytest exit status 1: suites.test_ns_pid::test_pid_one" in printed
    assert "failed suites.test_ns_pid::test_pid_one: AssertionError: pid 1 is the host's init" in printed
    assert "second line" not in printed
    assert f"console log: {tmp_path / 'm' / '6.12' / 'console.log'}" in printed


def test_a_boot_failure_shard_shows_as_a_failure_as_unsharded(tmp_path: Path, capsys):
    """A guest that panicked sent no JUnit: the merge makes the same guest_boot error, status and reason
    from summary.json, and prints the console's tail from the copied console.log."""
    reason = "kernel panic: Fatal exception in interrupt"
    specs = [("6.1", "passed", PASSING), ("7.2", "panic", None, reason, PANIC_TAIL)]
    _, single_lines, _ = unsharded(tmp_path / "single", specs)
    unsharded(tmp_path / "a", specs[:1])
    unsharded(tmp_path / "b", specs[1:])
    out = tmp_path / "m"
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(out)]) == 1
    merged = cases_of(out / "junit.xml")
    assert merged == cases_of(tmp_path / "single" / "junit.xml")
    assert merged[-1] == ("kernel-7.2", "kernel-7.2.harness", "guest_boot", "error", f"panic: {reason}")
    error = ET.parse(out / "junit.xml").getroot().find("testsuite[@name='kernel-7.2']/testcase/error")
    assert error.text == f"console log: {out / '7.2' / 'console.log'}"
    printed = capsys.readouterr().out.splitlines()[1:]
    assert printed == [line.replace(str(tmp_path / "single"), str(out)) for line in single_lines]
    assert f"{'':>8}  | [   50.000000] Kernel panic - not syncing: Fatal exception in interrupt" in printed


def test_an_older_summary_without_reasons_still_merges(tmp_path: Path, capsys):
    """summary.json written before it kept reasons: the boot failure is still an error, saying where to look."""
    unsharded(tmp_path / "a", [("6.12", "crashed", None, "the guest stopped without reporting")], reasons=False)
    assert "reason" not in json.loads((tmp_path / "a" / "summary.json").read_text())["6.12"]
    assert main(["merge", str(tmp_path / "a"), "--output", str(tmp_path / "m")]) == 1
    (case,) = cases_of(tmp_path / "m" / "junit.xml")
    assert case[2:4] == ("guest_boot", "error")
    assert case[4] == f"crashed: no reason recorded in {tmp_path / 'a' / 'summary.json'} (an older run); " \
                      "see the console log"
    assert "cause: no reason recorded in" in capsys.readouterr().out


def test_the_same_kernel_in_two_shards_is_refused_naming_both(tmp_path: Path, capsys):
    """A kernel run twice cannot be merged: exit 2, both directories named, nothing written."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.1", "failed", FAILING)])
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"kernel '6.1' is in two shards, {tmp_path / 'a'} and {tmp_path / 'b'}" in err
    assert not (tmp_path / "m").exists()


def test_a_shard_given_twice_is_refused(tmp_path: Path, capsys):
    """The same directory twice (as a shell glob and a name might give it) is named, not merged."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "a" / "."), "--output", str(tmp_path / "m")]) == 2
    assert "given twice" in capsys.readouterr().err


@pytest.mark.parametrize("make", ["empty", "missing", "file"])
def test_a_directory_that_is_not_a_run_is_refused_naming_it(tmp_path: Path, capsys, make: str):
    """No summary.json (an empty dir, no dir, a file): exit 2, naming the path and what is expected."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    bad = tmp_path / "shard-6.12"
    if make == "empty":
        bad.mkdir()
    elif make == "file":
        bad.write_text("not a run")
    assert main(["merge", str(tmp_path / "a"), str(bad), "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "expected a run directory" in err and "summary.json" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected an object mapping each kernel"),
    ('{"6.1": {"seconds": 3}}', "6.1.status: expected a status"),
    ('{"6.1": {"status": "passed", "seconds": "long"}}', "6.1.seconds: expected a number"),
    ('{"../etc": {"status": "passed"}}', "'../etc' is not a kernel name"),
    ('{"6.1": {"status": "passed"}, "6.12": {"status": "passed"}}', "lists kernel '6.12'"),
    ("{}", "names no kernel"),
])
def test_a_damaged_summary_is_refused_naming_the_file(tmp_path: Path, capsys, content: str, message: str):
    """summary.json that is not JSON, not an object, lacks a status, or names a kernel without a directory."""
    shard = tmp_path / "a"
    (shard / "6.1").mkdir(parents=True)
    (shard / "summary.json").write_text(content)
    assert main(["merge", str(shard), "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(shard) in err


def test_a_damaged_junit_file_is_refused_naming_it(tmp_path: Path, capsys):
    """A kernel's junit.xml that does not parse is bad input, named, never an empty pass."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    (tmp_path / "a" / "6.1" / "junit.xml").write_bytes(b"<testsuites><testsuite>")
    assert main(["merge", str(tmp_path / "a"), "--output", str(tmp_path / "m")]) == 2
    assert f"{tmp_path / 'm' / '6.1' / 'junit.xml'}: not valid JUnit XML" in capsys.readouterr().err


def test_a_non_empty_output_is_refused(tmp_path: Path, capsys):
    """Merging into a shard, or over an earlier merge, would mix runs: OUT must be new or empty."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.12", "passed", PASSING)])
    assert main(["merge", str(tmp_path / "a"), "--output", str(tmp_path / "b")]) == 2
    assert f"{tmp_path / 'b'}: exists and is not empty" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["merge", str(tmp_path / "a"), "--output", str(tmp_path / "empty")]) == 0


def test_the_default_output_is_a_fresh_merged_run_that_latest_points_to(tmp_path: Path, monkeypatch, capsys):
    """Without --output: kharness-results/run-YYYYmmdd-HHMMSS-merged, a new one each time, latest -> it."""
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    monkeypatch.chdir(tmp_path)
    assert main(["merge", "a"]) == 0
    assert main(["merge", "a"]) == 0
    runs = sorted(p.name for p in (tmp_path / "kharness-results").glob("run-*-merged*"))
    assert len(runs) == 2 and all(r.startswith("run-") for r in runs)
    latest = (tmp_path / "kharness-results" / "latest").resolve()
    assert latest.name in runs and (latest / "6.1" / "junit.xml").is_file()


def with_benchmarks(run_dir: Path, kernel: str) -> None:
    synthetic.write(run_dir / kernel / "benchmark.json",
                    synthetic.document({"test_fork_exec_true": synthetic.samples(0.002)}, kernel=kernel))


def test_report_writes_the_benchmark_page_of_every_shard(tmp_path: Path, capsys):
    """--report: one HTML page over the kernels of all shards, in OUT/bench-report."""
    pytest.importorskip("matplotlib")
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.12", "passed", PASSING)])
    with_benchmarks(tmp_path / "a", "6.1")
    with_benchmarks(tmp_path / "b", "6.12")
    out = tmp_path / "m"
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(out), "--report"]) == 0
    index = out / "bench-report" / "index.html"
    assert f"[bench] report: {index}" in capsys.readouterr().out
    page = index.read_text()
    assert "6.1.0-50-cloud-amd64" in page and "test_fork_exec_true" in page
    assert (out / "6.12" / "benchmark.json").is_file()


def test_report_without_matplotlib_says_so_and_merges_nothing(tmp_path: Path, monkeypatch, capsys):
    """--report where matplotlib cannot be imported: exit 2 before anything is written, saying what to install."""
    monkeypatch.setitem(sys.modules, "harness.bench.plots", None)
    unsharded(tmp_path / "a", [("6.1", "passed", PASSING)])
    with_benchmarks(tmp_path / "a", "6.1")
    assert main(["merge", str(tmp_path / "a"), "--output", str(tmp_path / "m"), "--report"]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install" in err
    assert not (tmp_path / "m").exists()


def test_report_without_benchmarks_is_no_error(tmp_path: Path, capsys):
    """--report on shards that ran only the suites: said, and the status is the tests' own."""
    shard = tmp_path / "a"
    unsharded(shard, [("6.1", "passed", PASSING)])
    assert main(["merge", str(shard), "--output", str(tmp_path / "m"), "--report"]) == 0
    assert "no <kernel>/benchmark.json in any shard" in capsys.readouterr().out
    assert not (tmp_path / "m" / "bench-report").exists()


def test_usage_errors_and_help(capsys):
    """No DIR is a usage error (2); --help lists the examples and exits 0."""
    assert main(["merge"]) == 2
    assert main(["merge", "--help"]) == 0
    assert "python -m harness report merge shard-* --output merged --report" in capsys.readouterr().out


def test_closing_lines_are_what_run_report_prints(tmp_path: Path):
    """summary.closing_lines over GuestOutcomes prints exactly run.report's lines, panic tail and all,
    so that run.report can use it."""
    outcomes, lines, _ = unsharded(tmp_path, [
        ("5.10", "passed", PASSING), ("6.12", "failed", FAILING),
        ("7.2", "panic", None, "kernel panic: x", PANIC_TAIL), ("6.1", "no-tests", None)])
    reports = [junit.for_outcome(o.kernel, o.status, o.reason, o.files.get("junit.xml"), o.console_log)[0]
               for o in outcomes]
    assert summary.closing_lines(outcomes, reports, tmp_path / "junit.xml") == lines


def test_summary_entries_are_run_reports_with_the_reason(tmp_path: Path):
    """summary.entries is what run.report writes into summary.json, each kernel's reason included."""
    outcomes, _, _ = unsharded(tmp_path, [("6.1", "passed", PASSING), ("7.2", "hung", None, "deadline")])
    written = json.loads((tmp_path / "summary.json").read_text())
    assert summary.entries(outcomes, "tcg", "QEMU emulator version 7.2.22") == written
    assert written["7.2"]["reason"] == "deadline"


def test_for_outcome_uses_the_guests_junit_only_when_it_reported(tmp_path: Path):
    """A reporting status with JUnit parses it; a crash (even with a stray file) or no file is a boot failure."""
    rep, _ = junit.for_outcome("6.1", "passed", "", PASSING, tmp_path / "console.log")
    assert [t.outcome for t in rep.tests] == ["passed", "skipped", "passed"]
    rep, _ = junit.for_outcome("6.1", "crashed", "damaged", PASSING, tmp_path / "console.log")
    assert [(t.test_id, t.message) for t in rep.tests] == [("harness::guest_boot", "crashed: damaged")]
    rep, _ = junit.for_outcome("6.1", "failed", "pytest exit status 1", None, tmp_path / "console.log")
    assert rep.tests[0].outcome == "error"


def test_merge_library_keeps_the_shards_order(tmp_path: Path):
    """The merged kernels come in the order of the shards given, each shard's in its summary.json order."""
    unsharded(tmp_path / "a", [("6.12", "passed", PASSING), ("5.10", "passed", PASSING)])
    unsharded(tmp_path / "b", [("6.1", "passed", PASSING)])
    shards = merge.read_shards([tmp_path / "b", tmp_path / "a"])
    merged = merge.merge(shards, merge.prepare_output(tmp_path / "m"))
    assert [r.kernel for r in merged.runs] == ["6.1", "6.12", "5.10"]
    assert list(json.loads((tmp_path / "m" / "summary.json").read_text())) == ["6.1", "6.12", "5.10"]
