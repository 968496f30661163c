"""Tests of the A/B comparison: verdicts, thresholds, like-for-like contexts, one-sided benchmarks, output."""

import json
import math
from pathlib import Path

import pytest

from harness.bench.compare import TCG_NOTE, compare, compare_paths, verdict
from harness.bench.results import parse
from harness.bench.synthetic import document, samples, write
from harness.bench.thresholds import Thresholds

NAMES = ("test_fork_exec_true", "test_clone3_one_namespace[network]", "test_cgroup_mkdir")


def kernel(seed: int, scale: dict | None = None, name: str = "6.1", only=NAMES, **context):
    """One kernel's results: 30 samples of 2 % noise per benchmark, medians scaled per benchmark by `scale`."""
    scale = scale or {}
    doc = document({n: samples(0.015 * scale.get(n, 1.0), noise=0.02, seed=seed * 100 + i)
                    for i, n in enumerate(only)}, kernel=name, **context)
    return parse(doc, Path(f"{name}-{seed}.json"))


def rows_by_name(comparison):
    return {r.benchmark: r for r in comparison.rows}


def test_injected_ten_percent_slowdown_is_a_regression():
    """B is A with one benchmark 10 % slower: that one is a regression, the others unchanged."""
    result = compare([kernel(1)], [kernel(2, {"test_fork_exec_true": 1.10})])
    rows = rows_by_name(result)
    slow = rows["test_fork_exec_true"]
    assert slow.verdict == "regression" and slow.p < 0.01
    assert slow.change == pytest.approx(10, abs=2.5)
    assert [r.verdict for r in result.rows if r is not slow] == ["unchanged", "unchanged"]
    assert result.regressions == [slow]


def test_a_a_comparison_is_unchanged():
    """Two independent samples from the same distributions: every benchmark unchanged, no regression."""
    result = compare([kernel(1)], [kernel(2)])
    assert [r.verdict for r in result.rows] == ["unchanged"] * 3
    assert result.regressions == []
    assert all(r.p > 0.01 for r in result.rows)


def test_speedup_is_an_improvement():
    """A 15 % faster benchmark is an improvement, not a regression."""
    result = compare([kernel(1)], [kernel(2, {"test_cgroup_mkdir": 0.85})])
    assert rows_by_name(result)["test_cgroup_mkdir"].verdict == "improvement"
    assert result.count("improvement") == 1 and not result.regressions


def test_threshold_override_absorbs_a_significant_change():
    """A significant +10 % change under a 15 % threshold for that benchmark is unchanged; others keep 5 %."""
    thresholds = Thresholds(5.0, (("test_fork_*", 15.0),))
    result = compare([kernel(1)], [kernel(2, {"test_fork_exec_true": 1.10, "test_cgroup_mkdir": 1.10})],
                     thresholds)
    rows = rows_by_name(result)
    assert rows["test_fork_exec_true"].p < 0.01
    assert (rows["test_fork_exec_true"].verdict, rows["test_fork_exec_true"].threshold) == ("unchanged", 15.0)
    assert (rows["test_cgroup_mkdir"].verdict, rows["test_cgroup_mkdir"].threshold) == ("regression", 5.0)


def test_small_significant_change_below_threshold_is_unchanged():
    """Significance alone is not enough: a 3 % shift with little noise stays under the 5 % threshold."""
    doc_a = document({"t": samples(1.0, noise=0.002, seed=1)})
    doc_b = document({"t": samples(1.03, noise=0.002, seed=2)})
    [row] = compare([parse(doc_a, Path("a"))], [parse(doc_b, Path("b"))]).rows
    assert row.p < 0.01 and row.verdict == "unchanged"


@pytest.mark.parametrize("change, p, expected", [
    (6.0, 0.001, "regression"), (-6.0, 0.001, "improvement"), (6.0, 0.02, "unchanged"),
    (5.0, 0.001, "unchanged"), (-4.0, 0.001, "unchanged"), (math.inf, 0.0005, "regression"),
])
def test_verdict_rule(change, p, expected):
    """Regression needs p < alpha and change > +threshold; improvement p < alpha and change < -threshold."""
    assert verdict(change, p, alpha=0.01, threshold=5.0) == expected


@pytest.mark.parametrize("b_context, reason", [
    ({"accel": "kvm"}, "accel tcg vs kvm"),
    ({"host_cpu_model": "Intel Xeon"}, "host CPU AMD EPYC vs Intel Xeon"),
    ({"clock": "icount"}, "clock real vs icount"),
    ({"vcpus": 1}, "vCPUs 2 vs 1"),
    ({"accel": "kvm", "guest_cpu_model": "host"}, "accel tcg vs kvm; guest CPU QEMU TCG CPU version 2.5+ vs host"),
])
def test_context_mismatch_is_reported_not_compared(b_context, reason):
    """Another accel, clock or CPU on one side: the kernel is listed as not comparable, with no rows for it."""
    result = compare([kernel(1), kernel(3, name="6.12")],
                     [kernel(2, **b_context), kernel(4, {"test_fork_exec_true": 2.0}, name="6.12")])
    assert result.not_comparable == [("6.1", reason)]
    assert {r.kernel for r in result.rows} == {"6.12"}
    assert f"not comparable: 6.1: {reason}" in result.table()


def test_unknown_context_is_not_comparable():
    """A file without machine_info.kharness is never compared, even against another unknown one."""
    doc = document({"t": [1.0, 2.0]}, stamped=False)
    a, b = parse(doc, Path("a.json"), kernel="6.1"), parse(doc, Path("b.json"), kernel="6.1")
    result = compare([a], [b])
    assert result.rows == []
    assert result.not_comparable == [("6.1", "no machine_info.kharness in a.json (A): accel and CPU unknown")]


def test_qemu_and_release_differences_are_noted_but_compared():
    """A new QEMU or kernel release still compares (same accel and CPU), with a note saying so."""
    result = compare([kernel(1)], [kernel(2, qemu_version="QEMU 8.2", kernel_release="6.1.0-51-cloud-amd64")])
    assert len(result.rows) == 3
    assert any("QEMU differs" in n for n in result.notes)
    assert any("6.1.0-50-cloud-amd64 (A) vs 6.1.0-51-cloud-amd64 (B)" in n for n in result.notes)


def test_one_sided_benchmarks_and_kernels_are_listed():
    """Benchmarks and kernels present on only one side are listed, not silently dropped."""
    result = compare([kernel(1, only=NAMES[:2]), kernel(5, name="5.10")],
                     [kernel(2, only=NAMES[1:]), kernel(6, name="7.2")])
    assert result.only_a == [("6.1", "test_fork_exec_true")]
    assert result.only_b == [("6.1", "test_cgroup_mkdir")]
    assert (result.kernels_only_a, result.kernels_only_b) == (["5.10"], ["7.2"])
    assert [r.benchmark for r in result.rows] == ["test_clone3_one_namespace[network]"]


def test_text_table_and_json_form(tmp_path):
    """The table has the documented columns and a summary; the JSON form holds the same verdicts."""
    a = write(tmp_path / "a.json", document({"t": samples(0.015, seed=1)}))
    b = write(tmp_path / "b.json", document({"t": samples(0.0165, seed=2)}))
    result = compare_paths(a, b)
    lines = result.table()
    assert lines[:2] == [f"A: {a}", f"B: {b}"]
    assert lines[2].split() == ["kernel", "benchmark", "median", "A", "median", "B", "change", "thr", "p", "verdict"]
    cells = lines[3].split()
    assert cells[:2] == ["6.1", "t"] and cells[-1] == "regression" and cells[-2] == "0.0005"
    assert lines[-1].startswith("1 compared: 1 regression(s), 0 improvement(s), 0 unchanged")
    assert f"note: {TCG_NOTE}" in lines
    data = json.loads(json.dumps(result.to_json()))
    assert data["counts"] == {"regression": 1, "improvement": 0, "unchanged": 0}
    [row] = data["rows"]
    assert (row["kernel"], row["benchmark"], row["verdict"], row["rounds_a"]) == ("6.1", "t", "regression", 30)
    assert data["contexts"]["a"]["6.1"]["accel"] == "tcg" and data["tcg_note"] == TCG_NOTE


def test_bad_alpha_is_rejected():
    """alpha must lie strictly between 0 and 1."""
    with pytest.raises(ValueError, match="alpha"):
        compare([kernel(1)], [kernel(2)], alpha=1.5)


def test_an_injected_slowdown_is_flagged_and_named_in_the_notes():
    """B slowed on purpose by 10 % on one benchmark: a regression there, and a note saying it was deliberate."""
    doc = document({n: samples(0.015 * (1.10 if n == NAMES[0] else 1.0), noise=0.02, seed=200 + i)
                    for i, n in enumerate(NAMES)})
    doc["benchmarks"][0]["extra_info"]["injected_slowdown_pct"] = 10.0
    result = compare([kernel(1)], [parse(doc, Path("b.json"))])
    assert rows_by_name(result)[NAMES[0]].verdict == "regression"
    assert f"6.1: {NAMES[0]} in B was slowed on purpose by 10% (--inject-slowdown)" in result.notes
