"""Load pytest-benchmark JSON (one file, a run directory, or a storage directory) into plain dataclasses."""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

# The fields of machine_info.kharness (written by harness.plugin) that a result's context is made of.
_CONTEXT_KEYS = ("kernel_release", "kernel_name", "accel", "guest_cpu_model", "host_cpu_model",
                 "qemu_version", "harness_commit")


class ResultsError(ValueError):
    """A benchmark file is missing or malformed; the message names the file and the JSON path."""


@dataclass(frozen=True)
class Context:
    """Where and when a result was measured. Empty strings are unknown (no machine_info.kharness)."""

    accel: str = ""
    clock: str = "real"  # "icount": emulated instructions (1 ns each), not the host's time
    host_cpu_model: str = ""
    guest_cpu_model: str = ""
    qemu_version: str = ""
    kernel_release: str = ""
    commit: str = ""
    datetime: str = ""
    vcpus: int | None = None
    known: bool = True

    def to_json(self) -> dict:
        return {"accel": self.accel, "clock": self.clock, "host_cpu_model": self.host_cpu_model,
                "guest_cpu_model": self.guest_cpu_model, "qemu_version": self.qemu_version,
                "kernel_release": self.kernel_release, "commit": self.commit, "datetime": self.datetime,
                "vcpus": self.vcpus, "known": self.known}


@dataclass(frozen=True)
class Benchmark:
    """The raw samples (seconds) of one benchmark on one kernel, with the context they were measured in."""

    kernel: str
    name: str
    samples: tuple[float, ...]
    context: Context
    # The percentage by which --inject-slowdown slowed this benchmark on purpose (0: measured as it is).
    injected_slowdown_pct: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def iqr(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q3 - q1


@dataclass
class KernelResults:
    """Every benchmark of one kernel's benchmark.json, by benchmark name."""

    kernel: str
    context: Context
    source: Path
    benchmarks: dict[str, Benchmark] = field(default_factory=dict)

    @property
    def injected(self) -> dict[str, float]:
        """Benchmarks slowed on purpose (--inject-slowdown), with their percentage."""
        return {name: b.injected_slowdown_pct for name, b in self.benchmarks.items() if b.injected_slowdown_pct}


def _expect(value, kind, source: Path, where: str):
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ResultsError(f"{source}: {where}: expected {names}, got {type(value).__name__}")
    return value


def _context(data: dict, source: Path) -> tuple[str | None, Context]:
    """The kernel name (None when unknown) and the context, from machine_info.kharness and datetime."""
    machine = _expect(data.get("machine_info", {}), dict, source, "machine_info")
    stamp = _expect(data.get("datetime", ""), str, source, "datetime")
    if "kharness" not in machine:
        return None, Context(kernel_release=str(machine.get("release", "")), datetime=stamp, known=False)
    block = _expect(machine["kharness"], dict, source, "machine_info.kharness")
    values = {}
    for key in _CONTEXT_KEYS:
        if key not in block:
            raise ResultsError(f"{source}: machine_info.kharness.{key}: missing")
        values[key] = _expect(block[key], str, source, f"machine_info.kharness.{key}")
    vcpus = block.get("vcpus")
    if vcpus is not None:
        _expect(vcpus, int, source, "machine_info.kharness.vcpus")
    # Files from before the icount clock existed have no `clock`: they were measured in the host's time.
    clock = _expect(block.get("clock", "real"), str, source, "machine_info.kharness.clock")
    return values["kernel_name"] or None, Context(
        accel=values["accel"], clock=clock, host_cpu_model=values["host_cpu_model"],
        guest_cpu_model=values["guest_cpu_model"], qemu_version=values["qemu_version"],
        kernel_release=values["kernel_release"], commit=values["harness_commit"], datetime=stamp,
        vcpus=vcpus)


def _samples(entry: dict, source: Path, where: str) -> tuple[float, ...]:
    stats = _expect(entry.get("stats"), dict, source, f"{where}.stats")
    data = _expect(stats.get("data"), list, source, f"{where}.stats.data")
    if not data:
        raise ResultsError(f"{source}: {where}.stats.data: empty; run pytest-benchmark without "
                           "--benchmark-disable and keep raw data (the default)")
    out = []
    for i, value in enumerate(data):
        _expect(value, (int, float), source, f"{where}.stats.data[{i}]")
        if not math.isfinite(value) or value < 0:
            raise ResultsError(f"{source}: {where}.stats.data[{i}]: not a duration in seconds: {value!r}")
        out.append(float(value))
    return tuple(out)


def parse(data: object, source: Path, kernel: str | None = None) -> KernelResults:
    """Validate the decoded JSON of one benchmark file; `kernel` names it when the file itself cannot."""
    _expect(data, dict, source, "$")
    name_in_file, context = _context(data, source)
    kernel_name = name_in_file or kernel
    if not kernel_name:
        raise ResultsError(f"{source}: machine_info.kharness.kernel_name: missing, and the file is not "
                           "in a <kernel>/ directory of a run")
    entries = _expect(data.get("benchmarks"), list, source, "benchmarks")
    result = KernelResults(kernel_name, context, source)
    for i, entry in enumerate(entries):
        where = f"benchmarks[{i}]"
        _expect(entry, dict, source, where)
        name = _expect(entry.get("name"), str, source, f"{where}.name")
        if name in result.benchmarks:
            raise ResultsError(f"{source}: {where}.name: duplicate benchmark {name!r}")
        extra = _expect(entry.get("extra_info", {}), dict, source, f"{where}.extra_info")
        injected = _expect(extra.get("injected_slowdown_pct", 0.0), (int, float), source,
                           f"{where}.extra_info.injected_slowdown_pct")
        result.benchmarks[name] = Benchmark(kernel_name, name, _samples(entry, source, where), context,
                                            float(injected))
    return result


def load_file(path: Path, kernel: str | None = None) -> KernelResults:
    """One pytest-benchmark JSON file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc}") from None
    return parse(data, path, kernel)


def run_files(run_dir: Path) -> list[Path]:
    """The `<kernel>/benchmark.json` files of a run directory, sorted by kernel directory."""
    return sorted(run_dir.glob("*/benchmark.json"))


def load_run(run_dir: Path) -> list[KernelResults]:
    """Every kernel of a `python -m harness run` directory; the directory names the kernel if the file can't."""
    files = run_files(run_dir)
    if not files:
        raise ResultsError(f"{run_dir}: no <kernel>/benchmark.json in this run directory "
                           "(were the benchmarks selected, and did they run? see its summary.json)")
    return _unique([load_file(f, kernel=f.parent.name) for f in files], run_dir)


def _unique(results: list[KernelResults], where: Path) -> list[KernelResults]:
    seen: dict[str, Path] = {}
    for r in results:
        if r.kernel in seen:
            raise ResultsError(f"{where}: kernel {r.kernel!r} appears twice: {seen[r.kernel]} and {r.source}")
        seen[r.kernel] = r.source
    return results


def load(path: Path) -> list[KernelResults]:
    """A benchmark JSON file, a run directory, or a storage directory (each kernel's latest per machine)."""
    path = Path(path)
    if path.is_file():
        return [load_file(path)]
    if not path.is_dir():
        raise ResultsError(f"{path}: no such file or directory")
    if run_files(path) or (path / "summary.json").is_file():
        return load_run(path)
    from . import storage  # storage builds on this module; imported here to keep the dependency one-way
    if storage.is_storage(path):
        return storage.latest(path)
    raise ResultsError(f"{path}: neither a run directory (<kernel>/benchmark.json) nor a benchmark "
                       "storage directory (<machine_id>/NNNN_*.json)")


def kernel_order(name: str) -> tuple:
    """Sort key putting kernel names in version order: 5.10 < 6.1 < 6.12 < 7.2; other names after."""
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def format_seconds(seconds: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits: 1.234 s, 13.12 ms, 194.5 us."""
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"
