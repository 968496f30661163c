"""Process creation baselines: fork+exec, posix_spawn, clone3+exec of a static busybox `true`."""

from __future__ import annotations

import os

from harness.runtime.syscalls import Syscalls


def fork_exec(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return os.waitpid(pid, 0)[1]


def spawn(argv: list[str]) -> int:
    pid = os.posix_spawn(argv[0], argv, os.environ)
    return os.waitpid(pid, 0)[1]


def clone3_exec(sys: Syscalls, argv: list[str]) -> int:
    child = sys.clone3(0)
    if child.in_child:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return os.waitpid(child.pid, 0)[1]


def test_fork_exec_true(benchmark, busybox, rounds):
    """fork(2) then execve(2) of busybox true, waited for."""
    status = benchmark.pedantic(fork_exec, args=([busybox, "true"],), rounds=rounds, warmup_rounds=2)
    assert status == 0


def test_posix_spawn_true(benchmark, busybox, rounds):
    """posix_spawn(3) (vfork-style in glibc) of busybox true, waited for."""
    status = benchmark.pedantic(spawn, args=([busybox, "true"],), rounds=rounds, warmup_rounds=2)
    assert status == 0


def test_clone3_exec_true(benchmark, busybox, rounds):
    """clone3(2) without flags then execve(2) of busybox true, waited for."""
    sys = Syscalls()
    status = benchmark.pedantic(clone3_exec, args=(sys, [busybox, "true"]), rounds=rounds, warmup_rounds=2)
    assert status == 0
