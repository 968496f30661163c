"""cgroup v2 operations: mkdir, attaching a process (cgroup.procs vs CLONE_INTO_CGROUP), rmdir."""

from __future__ import annotations

import itertools
import os

import pytest

from harness.runtime.syscalls import Syscalls

_names = itertools.count()


def test_cgroup_mkdir(benchmark, bench_cgroup, rounds):
    """mkdir(2) of a child cgroup (the kernel creates its interface files)."""
    def setup():
        return (bench_cgroup / f"m{next(_names)}",), {}
    benchmark.pedantic(lambda path: path.mkdir(), setup=setup, rounds=rounds, warmup_rounds=2)
    assert any(p.is_dir() for p in bench_cgroup.iterdir())


def test_cgroup_rmdir(benchmark, bench_cgroup, rounds):
    """rmdir(2) of an empty child cgroup."""
    def setup():
        path = bench_cgroup / f"r{next(_names)}"
        path.mkdir()
        return (path,), {}
    benchmark.pedantic(lambda path: path.rmdir(), setup=setup, rounds=rounds, warmup_rounds=2)
    assert not any(p.is_dir() and p.name.startswith("r") for p in bench_cgroup.iterdir())


def _fork_then_attach(procs_file: str) -> int:
    pid = os.fork()
    if pid == 0:
        os.read(0, 0)
        os._exit(0)
    with open(procs_file, "w") as f:
        f.write(str(pid))
    return os.waitpid(pid, 0)[1]


def _clone_into(sys: Syscalls, fd: int) -> int:
    child = sys.clone3(0, cgroup_fd=fd)
    if child.in_child:
        os._exit(0)
    return os.waitpid(child.pid, 0)[1]


def test_attach_by_cgroup_procs(benchmark, bench_cgroup, rounds, round_statuses):
    """fork(2), then write the child's pid into cgroup.procs: the classic two-step placement."""
    target = bench_cgroup / "procs"
    target.mkdir()
    benchmark.pedantic(round_statuses.record(_fork_then_attach), args=(str(target / "cgroup.procs"),),
                       rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded(f"fork then attach through {target}/cgroup.procs")


@pytest.mark.requires("CLONE_INTO_CGROUP")
def test_attach_by_clone_into_cgroup(benchmark, bench_cgroup, rounds, round_statuses):
    """clone3(2) with CLONE_INTO_CGROUP: the child starts in the cgroup (Linux 5.7+; skipped, by the requires
    marker, only where the kernel lacks it: any other clone3 error fails the benchmark)."""
    target = bench_cgroup / "clone-into"
    target.mkdir()
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    sys = Syscalls()
    try:
        benchmark.pedantic(round_statuses.record(_clone_into), args=(sys, fd), rounds=rounds, warmup_rounds=2)
    finally:
        os.close(fd)
    round_statuses.assert_all_succeeded(f"clone3 with CLONE_INTO_CGROUP into {target}")
