"""Namespace creation cost per type, by clone3 with one flag and by unshare, and all types together.

Each round creates a child that owns the new namespace and exits at once, so the figure includes
the teardown the kernel does on the last reference (for network namespaces most of it runs later
in the cleanup_net worker, and shows up as pressure on the following rounds).
"""

from __future__ import annotations

import os

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import SyscallError
from harness.runtime.syscalls import Syscalls

TYPES = dict(c.NAMESPACE_CLONE_FLAGS)


def clone_child(sys: Syscalls, flags: int) -> int:
    child = sys.clone3(flags)
    if child.in_child:
        os._exit(0)
    return os.waitpid(child.pid, 0)[1]


def fork_unshare(sys: Syscalls, flags: int) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            sys.unshare(flags)
            os._exit(0)
        except BaseException:
            os._exit(1)
    return os.waitpid(pid, 0)[1]


def supported(sys: Syscalls, flags: int) -> None:
    """Skip when this kernel cannot make the namespace (time namespaces arrived in 5.6)."""
    try:
        status = clone_child(sys, flags)
    except SyscallError as exc:
        pytest.skip(f"clone3 with {flags:#x} fails here: {exc}")
    assert status == 0


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_clone3_one_namespace(benchmark, as_root, rounds, kind):
    """clone3(2) with one CLONE_NEW* flag; the child exits at once and is waited for."""
    sys = Syscalls()
    supported(sys, TYPES[kind])
    status = benchmark.pedantic(clone_child, args=(sys, TYPES[kind]), rounds=rounds, warmup_rounds=2)
    assert status == 0


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_unshare_one_namespace(benchmark, as_root, rounds, kind):
    """fork(2) then unshare(2) of one namespace type in the child, which exits; waited for."""
    sys = Syscalls()
    supported(sys, TYPES[kind])
    status = benchmark.pedantic(fork_unshare, args=(sys, TYPES[kind]), rounds=rounds, warmup_rounds=2)
    assert status == 0


def test_clone3_no_namespace(benchmark, as_root, rounds):
    """clone3(2) without namespace flags: the baseline to subtract from the figures above."""
    sys = Syscalls()
    status = benchmark.pedantic(clone_child, args=(sys, 0), rounds=rounds, warmup_rounds=2)
    assert status == 0


def test_clone3_all_namespaces(benchmark, as_root, rounds):
    """clone3(2) with every namespace flag this kernel supports at once."""
    sys = Syscalls()
    flags = 0
    for flag in TYPES.values():
        try:
            clone_child(sys, flag)
            flags |= flag
        except SyscallError:
            pass
    status = benchmark.pedantic(clone_child, args=(sys, flags), rounds=rounds, warmup_rounds=2)
    benchmark.extra_info["flags"] = hex(flags)
    assert status == 0
