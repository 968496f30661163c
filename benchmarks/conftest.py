"""Benchmark fixtures: bounded rounds (TCG is slow), the busybox binary, root and cgroup2 checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.bench import slowdown

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture
def benchmark(benchmark, request):
    """pytest-benchmark's fixture, slowed on purpose where --inject-slowdown names this benchmark."""
    fraction = slowdown.fraction_for(request.node.name, slowdown.parse(request.config.getoption("inject_slowdown")))
    if not fraction:
        return benchmark
    benchmark.extra_info["injected_slowdown_pct"] = round(fraction * 100, 3)
    return slowdown.slow_fixture(benchmark, fraction)


class RoundStatuses:
    """Every round's wait status of a benchmarked call: benchmark.pedantic returns only the last round's, so a
    call that failed in round 3 of 30 would otherwise pass (and its failure be timed as a result)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def record(self, call):
        """`call`, with each return value (a wait status, 0 for success) recorded."""
        def recorded(*args, **kwargs):
            status = call(*args, **kwargs)
            self.statuses.append(status)
            return status
        return recorded

    def assert_all_succeeded(self, what: str) -> None:
        failed = [(number, status) for number, status in enumerate(self.statuses, 1) if status != 0]
        assert self.statuses, f"{what}: no round ran"
        assert not failed, (f"{what}: {len(failed)} of {len(self.statuses)} rounds (warm-up included) failed; "
                            f"(round, wait status): {failed[:10]}")


@pytest.fixture
def round_statuses() -> RoundStatuses:
    """Collects each round's status of the benchmarked call (see RoundStatuses)."""
    return RoundStatuses()


@pytest.fixture(scope="session")
def rounds() -> int:
    """Rounds per benchmark: KHARNESS_BENCH_ROUNDS, default 30 (enough for a median and IQR under TCG)."""
    return int(os.environ.get("KHARNESS_BENCH_ROUNDS", "30"))


@pytest.fixture(scope="session")
def busybox() -> str:
    path = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(path):
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    return path


@pytest.fixture(scope="session")
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("creating namespaces and cgroups needs root")


@pytest.fixture(scope="session")
def cgroup2(as_root) -> Path:
    """The cgroup2 root, skipping where /sys/fs/cgroup is not a cgroup2 mount (a v1/v2 hybrid host)."""
    mounts = Path("/proc/self/mounts").read_text().split("\n")
    if not any(line.split()[1:3] == [str(CGROUP_ROOT), "cgroup2"] for line in mounts if line):
        pytest.skip(f"{CGROUP_ROOT} is not a cgroup2 mount (hybrid host): run in a harness guest")
    return CGROUP_ROOT


@pytest.fixture
def bench_cgroup(cgroup2):
    """A scratch cgroup under the root, removed afterwards with whatever was made under it."""
    base = cgroup2 / f"kharness-bench-{os.getpid()}"
    base.mkdir()
    yield base
    for child in sorted(base.glob("*/"), reverse=True):
        if child.is_dir():
            child.rmdir()
    base.rmdir()
