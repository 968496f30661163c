"""Namespace creation cost per type, by clone3 with one flag and by unshare, and all types together.

Each round creates a child that owns the new namespace and exits at once, so the figure includes
the teardown the kernel does on the last reference (for network namespaces most of it runs later
in the cleanup_net worker, and shows up as pressure on the following rounds).
"""

from __future__ import annotations

import os

import pytest

from harness import features
from harness.runtime import constants as c
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


# Types younger than the oldest kernel of the matrix, with the feature that names them (harness.features).
YOUNGER_TYPES = {"time": "time_namespace", "cgroup": "cgroup_namespace"}


def kernel_has(kind: str) -> bool:
    feature = YOUNGER_TYPES.get(kind)
    return feature is None or features.has(feature)


def require_type(kind: str) -> None:
    """Skip where the kernel lacks the namespace type (naming it and its first release); anything else that
    keeps clone3 or unshare from making it is the benchmark's failure, not a skip."""
    if not kernel_has(kind):
        pytest.skip(features.skip_reason(YOUNGER_TYPES[kind]))


@pytest.mark.requires("clone3")
@pytest.mark.parametrize("kind", sorted(TYPES))
def test_clone3_one_namespace(benchmark, as_root, rounds, round_statuses, kind):
    """clone3(2) with one CLONE_NEW* flag; the child exits at once and is waited for."""
    require_type(kind)
    sys = Syscalls()
    benchmark.pedantic(round_statuses.record(clone_child), args=(sys, TYPES[kind]), rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded(f"clone3 with CLONE_NEW{kind.upper()}")


@pytest.mark.parametrize("kind", sorted(TYPES))
def test_unshare_one_namespace(benchmark, as_root, rounds, round_statuses, kind):
    """fork(2) then unshare(2) of one namespace type in the child, which exits; waited for."""
    require_type(kind)
    sys = Syscalls()
    benchmark.pedantic(round_statuses.record(fork_unshare), args=(sys, TYPES[kind]), rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded(f"fork then unshare of the {kind} namespace")


@pytest.mark.requires("clone3")
def test_clone3_no_namespace(benchmark, as_root, rounds, round_statuses):
    """clone3(2) without namespace flags: the baseline to subtract from the figures above."""
    sys = Syscalls()
    benchmark.pedantic(round_statuses.record(clone_child), args=(sys, 0), rounds=rounds, warmup_rounds=2)
    round_statuses.assert_all_succeeded("clone3 without flags")


@pytest.mark.requires("clone3")
def test_clone3_all_namespaces(benchmark, as_root, rounds, round_statuses):
    """clone3(2) with every namespace flag this kernel supports at once."""
    sys = Syscalls()
    flags = 0
    for kind, flag in TYPES.items():
        if kernel_has(kind):  # a type the kernel has and clone3 refuses fails the benchmark, as above
            flags |= flag
    benchmark.pedantic(round_statuses.record(clone_child), args=(sys, flags), rounds=rounds, warmup_rounds=2)
    benchmark.extra_info["flags"] = hex(flags)
    round_statuses.assert_all_succeeded(f"clone3 with flags {flags:#x}")
