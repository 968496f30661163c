"""Benchmark storage in pytest-benchmark's layout: <storage>/<machine_id>/NNNN_<commit>_<datetime>_<kernel>.json."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .results import Context, KernelResults, ResultsError, kernel_order, load_file, load_run, run_files

DEFAULT_STORAGE = Path("kharness-results") / "benchmarks"

STORED_NAME = re.compile(r"^(?P<number>\d{4,})_(?P<commit>[^_]+)_(?P<stamp>\d{8}_\d{6})_(?P<kernel>.+)\.json$")


class StorageError(ResultsError):
    """The storage directory or a file to store is unusable; the message names the path."""


@dataclass(frozen=True)
class StoredFile:
    """One kernel's benchmark file of a stored run, as its name describes it."""

    machine_id: str
    number: int
    commit: str
    stamp: str
    kernel: str
    path: Path


@dataclass(frozen=True)
class StoredRun:
    """The files stored under one number of one machine: one harness run, one file per kernel."""

    machine_id: str
    number: int
    commit: str
    stamp: str
    files: tuple[StoredFile, ...]

    @property
    def kernels(self) -> list[str]:
        return [f.kernel for f in self.files]


@dataclass(frozen=True)
class HistoryPoint:
    """A benchmark's median on one kernel in one stored run."""

    number: int
    stamp: str
    commit: str
    kernel_release: str
    median: float
    iqr: float
    rounds: int


@dataclass(frozen=True)
class StoreOutcome:
    """Where one kernel's file went; `already` when the same result (commit, time, kernel) was stored before."""

    source: Path
    dest: Path
    already: bool


def slug(text: str, keep: str = "") -> str:
    """Lower-case letters, digits and `keep`; every other run of characters becomes one '-'."""
    out = re.sub(rf"[^a-z0-9{re.escape(keep)}]+", "-", text.lower()).strip("-")
    return out or "unknown"


def machine_id(context: Context) -> str:
    """The storage directory of a context: accel, clock unless real, and host CPU, slugified (`tcg-icount-amd-epyc`)."""
    clock = "" if context.clock == "real" else f"-{context.clock}"
    return slug(f"{context.accel}{clock}-{context.host_cpu_model}")


def _stamp(result: KernelResults) -> str:
    try:
        return datetime.fromisoformat(result.context.datetime).strftime("%Y%m%d_%H%M%S")
    except ValueError:
        raise StorageError(f"{result.source}: datetime: not an ISO date: {result.context.datetime!r}") from None


def _parse_name(path: Path, machine: str) -> StoredFile:
    match = STORED_NAME.match(path.name)
    if not match:
        raise StorageError(f"{path}: not a stored benchmark name (NNNN_<commit>_<YYYYmmdd_HHMMSS>_<kernel>.json)")
    return StoredFile(machine, int(match["number"]), match["commit"], match["stamp"], match["kernel"], path)


def _stored(machine_dir: Path) -> list[StoredFile]:
    return [_parse_name(p, machine_dir.name) for p in sorted(machine_dir.glob("*.json"))]


def _machine_dirs(path: Path) -> list[Path]:
    """The machine directories under a storage root, or [path] when it is one machine's directory."""
    if any(STORED_NAME.match(p.name) for p in path.glob("*.json")):
        return [path]
    return sorted(d for d in path.iterdir() if d.is_dir() and any(STORED_NAME.match(p.name) for p in d.glob("*.json")))


def is_storage(path: Path) -> bool:
    return path.is_dir() and bool(_machine_dirs(path))


def list_runs(storage: Path, machine: str | None = None) -> list[StoredRun]:
    """Every stored run, by machine id then number; only one machine's with `machine`."""
    if not storage.is_dir():
        raise StorageError(f"{storage}: no such storage directory (store a run first: bench store RUN)")
    runs = []
    for directory in _machine_dirs(storage):
        if machine is not None and directory.name != machine:
            continue
        by_number: dict[int, list[StoredFile]] = {}
        for f in _stored(directory):
            by_number.setdefault(f.number, []).append(f)
        for number, files in sorted(by_number.items()):
            files.sort(key=lambda f: kernel_order(f.kernel))
            runs.append(StoredRun(directory.name, number, files[0].commit, files[0].stamp, tuple(files)))
    return runs


def latest(storage: Path) -> list[KernelResults]:
    """Each kernel's most recently stored result on each machine (a kernel appears once per machine)."""
    newest: dict[tuple[str, str], StoredFile] = {}
    for run in list_runs(storage):
        for f in run.files:
            newest[(run.machine_id, f.kernel)] = f
    return [load_file(f.path, kernel=f.kernel) for f in newest.values()]


def _to_store(source: Path) -> list[KernelResults]:
    if source.is_file():
        return [load_file(source)]
    if source.is_dir() and run_files(source):
        return load_run(source)
    raise StorageError(f"{source}: not a benchmark JSON file nor a run directory with <kernel>/benchmark.json")


def store_run(source: Path, storage: Path = DEFAULT_STORAGE) -> list[StoreOutcome]:
    """Copy a run's per-kernel files into storage, numbered per machine id; nothing is written on error."""
    results = _to_store(Path(source))
    plans: dict[str, list[tuple[KernelResults, str]]] = {}
    for r in results:
        if not r.context.known:
            raise StorageError(f"{r.source}: machine_info.kharness: missing; without accel and host CPU the "
                               "result cannot be filed under a machine id (it predates the harness plugin)")
        if r.injected:
            raise StorageError(f"{r.source}: {', '.join(r.injected)} slowed on purpose (--inject-slowdown): "
                               "a demonstration run is not stored as history; compare it by its run directory")
        name = f"{slug(r.context.commit, '.')}_{_stamp(r)}_{slug(r.kernel, '.+')}.json"
        plans.setdefault(machine_id(r.context), []).append((r, name))
    outcomes = []
    for machine, items in plans.items():
        directory = storage / machine
        existing = _stored(directory) if directory.is_dir() else []
        seen = {f.path.name.split("_", 1)[1]: f.path for f in existing}
        number = max((f.number for f in existing), default=0) + 1
        for r, name in items:
            if name in seen:
                if seen[name].read_bytes() != r.source.read_bytes():
                    raise StorageError(f"{r.source}: {seen[name]} holds another result of the same commit, "
                                       "time and kernel; remove one of them")
                outcomes.append(StoreOutcome(r.source, seen[name], True))
                continue
            directory.mkdir(parents=True, exist_ok=True)
            dest = directory / f"{number:04d}_{name}"
            _copy(r.source, dest)
            outcomes.append(StoreOutcome(r.source, dest, False))
    return outcomes


def _copy(source: Path, dest: Path) -> None:
    """Write the file verbatim, through a temporary name so a reader never sees half a file."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        tmp.write_bytes(source.read_bytes())
        if dest.exists():
            raise StorageError(f"{dest}: already exists (another store running at once?)")
        os.replace(tmp, dest)
    except OSError as exc:
        raise StorageError(f"{dest}: cannot store {source}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def history_all(storage: Path, machine: str) -> dict[str, dict[str, list[HistoryPoint]]]:
    """benchmark name -> kernel -> its median over the stored runs of one machine, oldest first."""
    out: dict[str, dict[str, list[HistoryPoint]]] = {}
    for run in list_runs(storage, machine):
        for f in run.files:
            result = load_file(f.path, kernel=f.kernel)
            for name, bench in result.benchmarks.items():
                out.setdefault(name, {}).setdefault(result.kernel, []).append(HistoryPoint(
                    run.number, run.stamp, run.commit, result.context.kernel_release, bench.median, bench.iqr,
                    len(bench.samples)))
    return out


def history(storage: Path, benchmark: str, machine: str) -> dict[str, list[HistoryPoint]]:
    """kernel -> the median of one benchmark over the stored runs of one machine, oldest first."""
    return history_all(storage, machine).get(benchmark, {})
