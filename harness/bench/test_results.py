"""Tests of loading benchmark JSON from a file, a run directory or storage, and of its error messages."""

import json

import pytest

from harness.bench import results
from harness.bench.results import ResultsError, format_seconds, kernel_order, load
from harness.bench.synthetic import document, samples, write, write_run


def test_load_file_gives_samples_and_context(tmp_path):
    """One benchmark.json: samples per benchmark, the context from machine_info.kharness, the datetime."""
    data = samples(0.015)
    path = write(tmp_path / "benchmark.json", document({"test_a": data, "test_b[x]": [1.0, 3.0]}))
    [kernel] = load(path)
    assert kernel.kernel == "6.1"
    assert list(kernel.benchmarks) == ["test_a", "test_b[x]"]
    assert kernel.benchmarks["test_a"].samples == tuple(data)
    assert kernel.benchmarks["test_b[x]"].median == 2.0
    ctx = kernel.context
    assert (ctx.accel, ctx.host_cpu_model, ctx.guest_cpu_model) == ("tcg", "AMD EPYC", "QEMU TCG CPU version 2.5+")
    assert (ctx.commit, ctx.kernel_release, ctx.vcpus) == ("328befb67767", "6.1.0-50-cloud-amd64", 2)
    assert ctx.datetime == "2026-11-29T20:54:37+00:00" and ctx.known


def test_load_run_directory_in_kernel_order(tmp_path):
    """A run directory gives one result per <kernel>/benchmark.json."""
    run = write_run(tmp_path / "run", {"6.12": document({"t": [1.0]}, kernel="6.12"),
                                       "6.1": document({"t": [2.0]}, kernel="6.1")})
    assert sorted(r.kernel for r in load(run)) == ["6.1", "6.12"]


def test_file_without_kharness_block_takes_kernel_from_directory(tmp_path):
    """A file written before the harness stamped its context: kernel from the directory, context unknown."""
    run = write_run(tmp_path / "run", {"6.12": document({"t": [1.0]}, stamped=False)})
    [kernel] = load(run)
    assert kernel.kernel == "6.12"
    assert not kernel.context.known
    assert kernel.context.accel == "" and kernel.context.kernel_release == "6.1.0-50-cloud-amd64"


def test_run_directory_without_benchmarks_says_so(tmp_path):
    """A run whose guests ran no benchmark has no benchmark.json: the error names the run and summary.json."""
    run = tmp_path / "run-1"
    (run / "6.1").mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    with pytest.raises(ResultsError, match=r"run-1: no <kernel>/benchmark.json.*summary.json"):
        load(run)


def test_unknown_path_and_unknown_directory(tmp_path):
    """A missing path and a directory of something else are named in the error."""
    with pytest.raises(ResultsError, match="nope: no such file or directory"):
        load(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(ResultsError, match="other: neither a run directory"):
        load(tmp_path / "other")


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(benchmarks={}), r"benchmarks: expected list, got dict"),
    (lambda d: d["benchmarks"][1].pop("name"), r"benchmarks\[1\]\.name: expected str, got NoneType"),
    (lambda d: d["benchmarks"][1]["stats"].update(data="x"), r"benchmarks\[1\]\.stats\.data: expected list"),
    (lambda d: d["benchmarks"][0]["stats"]["data"].__setitem__(2, "1.0"),
     r"benchmarks\[0\]\.stats\.data\[2\]: expected int or float, got str"),
    (lambda d: d["benchmarks"][0]["stats"]["data"].__setitem__(1, -1.0),
     r"benchmarks\[0\]\.stats\.data\[1\]: not a duration in seconds: -1\.0"),
    (lambda d: d["benchmarks"][0]["stats"].update(data=[]), r"benchmarks\[0\]\.stats\.data: empty"),
    (lambda d: d["benchmarks"][1].update(name="a"), r"benchmarks\[1\]\.name: duplicate benchmark 'a'"),
    (lambda d: d["machine_info"]["kharness"].pop("accel"), r"machine_info\.kharness\.accel: missing"),
    (lambda d: d["machine_info"]["kharness"].update(vcpus="2"), r"machine_info\.kharness\.vcpus: expected int"),
    (lambda d: d.update(machine_info=[]), r"machine_info: expected dict, got list"),
])
def test_malformed_files_name_the_file_and_json_path(tmp_path, mutate, where):
    """Each malformation is reported with the file's path and the JSON path of the bad value."""
    doc = document({"a": [1.0, 2.0, 3.0], "b": [1.0]})
    mutate(doc)
    path = write(tmp_path / "bad.json", doc)
    with pytest.raises(ResultsError, match=rf"^{tmp_path}/bad\.json: {where}"):
        load(path)


def test_invalid_json_and_no_kernel_name(tmp_path):
    """Broken JSON names the file; a file with neither kernel_name nor a <kernel>/ directory is refused."""
    bad = tmp_path / "broken.json"
    bad.write_text("{")
    with pytest.raises(ResultsError, match="broken.json: not valid JSON"):
        load(bad)
    loose = write(tmp_path / "loose.json", document({"t": [1.0]}, stamped=False))
    with pytest.raises(ResultsError, match="loose.json: machine_info.kharness.kernel_name: missing"):
        results.load_file(loose)


def test_real_run_file_loads():
    """The 6.1 benchmark file of a real harness run (if still present) loads with 25 benchmarks of 30 rounds."""
    from pathlib import Path
    real = Path(__file__).resolve().parents[2] / "kharness-results/run-20261129-205414/6.1/benchmark.json"
    if not real.is_file():
        pytest.skip(f"{real} is not here (results are not part of the repository)")
    [kernel] = load(real)
    assert kernel.context.accel == "tcg" and len(kernel.benchmarks) == 25
    assert all(len(b.samples) == 30 for b in kernel.benchmarks.values())
    assert json.loads(real.read_text())["benchmarks"][0]["stats"]["median"] == pytest.approx(
        kernel.benchmarks["test_cgroup_mkdir"].median)


def test_kernel_order_and_format_seconds():
    """Kernels sort by version (5.10 < 6.1 < 6.12 < 7.2, names last); durations get a readable unit."""
    assert sorted(["7.2", "6.12", "host", "6.1", "5.10"], key=kernel_order) == ["5.10", "6.1", "6.12", "7.2", "host"]
    assert [format_seconds(x) for x in (2.5, 0.01312, 0.0001945)] == ["2.500 s", "13.12 ms", "194.5 us"]
