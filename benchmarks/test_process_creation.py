"""Process creation baselines: fork+exec, posix_spawn, clone3+exec of a static busybox `true`."""

from __future__ import annotations

import os

import pytest

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


def test_fork_exec_true(benchmark, busybox, rounds, round_statuses):
    """fork(2) then execve(2) of busybox true, waited for."""
    benchmark.pedantic(round_statuses.record(fork_exec), args=([busybox, "true"],), rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded("fork+exec of busybox true")


def test_posix_spawn_true(benchmark, busybox, rounds, round_statuses):
    """posix_spawn(3) (vfork-style in glibc) of busybox true, waited for."""
    benchmark.pedantic(round_statuses.record(spawn), args=([busybox, "true"],), rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded("posix_spawn of busybox true")


@pytest.mark.requires("clone3")
def test_clone3_exec_true(benchmark, busybox, rounds, round_statuses):
    """clone3(2) without flags then execve(2) of busybox true, waited for."""
    sys = Syscalls()
    benchmark.pedantic(round_statuses.record(clone3_exec), args=(sys, [busybox, "true"]), rounds=rounds,
                       warmup_rounds=2)
    round_statuses.assert_all_succeeded("clone3+exec of busybox true")
