"""Tests of benchmark storage: file names and numbering per machine id, listing, history, latest run."""

import json

import pytest

from harness.bench import storage
from harness.bench.results import Context, load
from harness.bench.storage import StorageError, list_runs, machine_id, store_run
from harness.bench.synthetic import document, write, write_run


def run(tmp_path, name: str, when: str, medians: dict[str, float], **context):
    """A run directory with one kernel per entry of `medians` (each with benchmarks t1 and t2)."""
    docs = {k: document({"t1": [m, m * 1.1, m * 0.9], "t2": [2 * m]}, kernel=k, when=when, **context)
            for k, m in medians.items()}
    return write_run(tmp_path / name, docs)


def test_machine_id_is_accel_and_host_cpu_slugified():
    """The machine id joins accel, the clock unless real, and host CPU model, lower-cased, other characters folded into '-'."""
    assert machine_id(Context(accel="tcg", host_cpu_model="AMD EPYC")) == "tcg-amd-epyc"
    assert machine_id(Context(accel="kvm", host_cpu_model="Intel(R) Xeon(R) CPU @ 2.20GHz")) == \
        "kvm-intel-r-xeon-r-cpu-2-20ghz"
    assert machine_id(Context(accel="tcg", clock="icount", host_cpu_model="AMD EPYC")) == "tcg-icount-amd-epyc"


def test_store_names_and_numbers_runs_per_machine(tmp_path):
    """Each stored run gets the next NNNN of its machine id; its kernels share the number; names follow the layout."""
    store = tmp_path / "store"
    first = store_run(run(tmp_path, "r1", "2026-11-29T20:54:37.831953+00:00", {"6.1": 1.0, "6.12": 2.0}), store)
    assert [o.dest.relative_to(store).as_posix() for o in first] == [
        "tcg-amd-epyc/0001_328befb67767_20261129_205437_6.1.json",
        "tcg-amd-epyc/0001_328befb67767_20261129_205437_6.12.json"]
    second = store_run(run(tmp_path, "r2", "2026-11-30T08:00:00+00:00", {"6.1": 1.5}, harness_commit="abc"), store)
    assert second[0].dest.name == "0002_abc_20261130_080000_6.1.json"
    other = store_run(run(tmp_path, "r3", "2026-11-30T09:00:00+00:00", {"6.1": 0.5}, accel="kvm"), store)
    assert other[0].dest.relative_to(store).as_posix() == "kvm-amd-epyc/0001_328befb67767_20261130_090000_6.1.json"
    assert json.loads(other[0].dest.read_text()) == json.loads((tmp_path / "r3/6.1/benchmark.json").read_text())


def test_storing_the_same_run_twice_stores_it_once(tmp_path):
    """A run already stored (same commit, time, kernel) is reported as such and not numbered again."""
    store = tmp_path / "store"
    r1 = run(tmp_path, "r1", "2026-11-29T20:54:37+00:00", {"6.1": 1.0})
    [first] = store_run(r1, store)
    [again] = store_run(r1, store)
    assert again.already and again.dest == first.dest
    assert len(list((store / "tcg-amd-epyc").glob("*.json"))) == 1
    doctored = r1 / "6.1" / "benchmark.json"
    doctored.write_text(doctored.read_text().replace('"data": [1.0', '"data": [1.5'))
    with pytest.raises(StorageError, match="0001_.*_6.1.json holds another result of the same commit"):
        store_run(r1, store)


def test_list_runs_and_history_in_order(tmp_path):
    """list_runs gives runs by number with their kernels; history gives each kernel's medians oldest first."""
    store = tmp_path / "store"
    store_run(run(tmp_path, "r1", "2026-11-29T10:00:00+00:00", {"6.1": 1.0, "6.12": 2.0}), store)
    store_run(run(tmp_path, "r2", "2026-11-29T11:00:00+00:00", {"6.1": 1.2}), store)
    store_run(run(tmp_path, "r3", "2026-11-29T12:00:00+00:00", {"6.1": 1.4, "6.12": 2.4}), store)
    runs = list_runs(store)
    assert [(r.number, r.kernels) for r in runs] == [(1, ["6.1", "6.12"]), (2, ["6.1"]), (3, ["6.1", "6.12"])]
    hist = storage.history(store, "t1", "tcg-amd-epyc")
    assert {k: [(p.number, p.median) for p in v] for k, v in hist.items()} == {
        "6.1": [(1, 1.0), (2, 1.2), (3, 1.4)], "6.12": [(1, 2.0), (3, 2.4)]}
    assert hist["6.1"][0].rounds == 3 and hist["6.1"][0].iqr == pytest.approx(0.1)
    assert storage.history(store, "t1", "kvm-other") == {}


def test_loading_storage_gives_each_kernels_latest_result_per_machine(tmp_path):
    """results.load on a storage directory (or one machine's directory) gives each kernel's latest stored file."""
    store = tmp_path / "store"
    store_run(run(tmp_path, "r1", "2026-11-29T10:00:00+00:00", {"6.1": 1.0, "6.12": 2.0}), store)
    store_run(run(tmp_path, "r2", "2026-11-29T11:00:00+00:00", {"6.1": 1.2}), store)
    store_run(run(tmp_path, "r3", "2026-11-29T12:00:00+00:00", {"6.1": 3.0}, accel="kvm"), store)
    latest = sorted((r.kernel, r.context.accel, r.benchmarks["t2"].median) for r in load(store))
    assert latest == [("6.1", "kvm", 6.0), ("6.1", "tcg", 2.4), ("6.12", "tcg", 4.0)]
    assert sorted(r.kernel for r in load(store / "tcg-amd-epyc")) == ["6.1", "6.12"]


def test_results_without_context_are_not_stored(tmp_path):
    """A file without machine_info.kharness cannot be filed under a machine: nothing at all is stored."""
    r = write_run(tmp_path / "r", {"6.1": document({"t": [1.0]}), "6.12": document({"t": [1.0]}, stamped=False)})
    with pytest.raises(StorageError, match=r"6\.12/benchmark\.json: machine_info\.kharness: missing"):
        store_run(r, tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_bad_inputs_name_the_path(tmp_path):
    """A bad date, a stray file in storage, a missing storage or a non-run source are errors naming the path."""
    r = write_run(tmp_path / "r", {"6.1": document({"t": [1.0]}, when="yesterday")})
    with pytest.raises(StorageError, match=r"6\.1/benchmark\.json: datetime: not an ISO date: 'yesterday'"):
        store_run(r, tmp_path / "store")
    machine = tmp_path / "store2" / "tcg-amd-epyc"
    write(machine / "0001_abc_20261129_100000_6.1.json", document({"t": [1.0]}))
    (machine / "notes.json").write_text("{}")
    with pytest.raises(StorageError, match="notes.json: not a stored benchmark name"):
        list_runs(tmp_path / "store2")
    with pytest.raises(StorageError, match="missing: no such storage directory"):
        list_runs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StorageError, match="empty: not a benchmark JSON file nor a run directory"):
        store_run(tmp_path / "empty", tmp_path / "store")


def test_compare_against_storage_uses_the_same_machine(tmp_path):
    """With KVM and TCG results of a kernel in storage, a TCG candidate is compared with the TCG one."""
    from harness.bench.compare import compare_paths
    store = tmp_path / "store"
    store_run(run(tmp_path, "tcg", "2026-11-29T10:00:00+00:00", {"6.1": 1.0}), store)
    store_run(run(tmp_path, "kvm", "2026-11-29T11:00:00+00:00", {"6.1": 0.1}, accel="kvm"), store)
    candidate = run(tmp_path, "new", "2026-11-29T12:00:00+00:00", {"6.1": 1.0})
    result = compare_paths(store, candidate)
    assert result.not_comparable == []
    assert [(r.benchmark, r.change) for r in result.rows] == [("t1", 0.0), ("t2", 0.0)]
    assert result.contexts["a"]["6.1"].accel == "tcg"


def test_runs_with_an_injected_slowdown_are_not_stored(tmp_path):
    """A --inject-slowdown run is a demonstration, never history: storing it fails naming the benchmark."""
    doc = document({"t": [1.0], "u": [2.0]})
    doc["benchmarks"][1]["extra_info"]["injected_slowdown_pct"] = 10.0
    r = write_run(tmp_path / "r", {"6.1": doc})
    with pytest.raises(StorageError, match=r"u slowed on purpose \(--inject-slowdown\)"):
        store_run(r, tmp_path / "store")
    assert not (tmp_path / "store").exists()
