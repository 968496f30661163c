"""Synthetic pytest-benchmark JSON for the tests: seeded samples in a chosen context, shaped like a real file."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

CONTEXT = {
    "kernel_release": "6.1.0-50-cloud-amd64", "kernel_name": "6.1", "accel": "tcg",
    "guest_cpu_model": "QEMU TCG CPU version 2.5+", "host_cpu_model": "AMD EPYC",
    "qemu_version": "QEMU emulator version 7.2.22", "harness_commit": "328befb67767", "vcpus": 2,
}


def samples(median: float, noise: float = 0.02, n: int = 30, seed: int = 1) -> list[float]:
    """n samples around `median` with a relative Gaussian noise `noise` (0.02 = 2 %)."""
    rng = random.Random(seed)
    return [median * (1 + rng.gauss(0, noise)) for _ in range(n)]


def benchmark_entry(name: str, data: list[float]) -> dict:
    q1, median, q3 = statistics.quantiles(data, n=4, method="inclusive") if len(data) > 1 else data * 3
    return {"group": None, "name": name, "fullname": f"benchmarks/test_x.py::{name}", "params": None,
            "param": None, "extra_info": {}, "options": {},
            "stats": {"min": min(data), "max": max(data), "mean": statistics.fmean(data), "median": median,
                      "iqr": q3 - q1, "q1": q1, "q3": q3, "rounds": len(data), "iterations": 1, "data": data}}


def document(benchmarks: dict[str, list[float]], kernel: str = "6.1", when: str = "2026-11-29T20:54:37+00:00",
             stamped: bool = True, **overrides) -> dict:
    """A benchmark.json document; `overrides` replace machine_info.kharness fields; not `stamped`: no such block."""
    kharness = {**CONTEXT, "kernel_name": kernel, **overrides}
    machine = {"node": "(none)", "machine": "x86_64", "release": kharness["kernel_release"]}
    if stamped:
        machine["kharness"] = kharness
    return {"machine_info": machine, "commit_info": {"id": "unversioned"}, "datetime": when, "version": "5.3.1",
            "benchmarks": [benchmark_entry(name, data) for name, data in benchmarks.items()]}


def write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def write_run(run_dir: Path, per_kernel: dict[str, dict], summary: bool = True) -> Path:
    """A run directory: <kernel>/benchmark.json for each document, and a summary.json."""
    for kernel, doc in per_kernel.items():
        write(run_dir / kernel / "benchmark.json", doc)
    if summary:
        (run_dir / "summary.json").write_text(json.dumps({k: {"status": "passed"} for k in per_kernel}))
    return run_dir
