"""Scaling of network-namespace creation with 1, 2, 4 and 8 concurrent creators.

The SOCK paper (USENIX ATC 2018) found network and mount namespaces to be scalability
bottlenecks of container start. Each round forks N creators that wait on a barrier; the clock
runs from releasing the barrier until all have made (and dropped) K namespaces each, so the
figure is the wall time of N*K creations under contention. Compare rounds across N: flat means
the kernel scales, linear growth means creations serialise.
"""

from __future__ import annotations

import os

import pytest

from harness.runtime import constants as c
from harness.runtime.syscalls import Syscalls

PER_CREATOR = 5


def fork_creators(sys: Syscalls, creators: int, flags: int, per_creator: int = PER_CREATOR) -> tuple[int, list[int]]:
    """Fork `creators` processes held at a barrier (a pipe); return the barrier's write end and pids."""
    read_end, write_end = os.pipe()
    pids = []
    for _ in range(creators):
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            os.read(read_end, 1)
            try:
                for _ in range(per_creator):
                    sys.unshare(flags)  # each unshare drops the previous namespace: teardown included
                os._exit(0)
            except BaseException:
                os._exit(1)
        pids.append(pid)
    os.close(read_end)
    return write_end, pids


def release_and_wait(write_end: int, pids: list[int]) -> int:
    """Open the barrier and wait for every creator; return how many failed."""
    os.write(write_end, b"x" * len(pids))
    failed = sum(1 for pid in pids if os.waitpid(pid, 0)[1] != 0)
    os.close(write_end)
    return failed


@pytest.mark.parametrize("creators", [1, 2, 4, 8])
@pytest.mark.parametrize("kind", ["network", "mount"])
def test_concurrent_namespace_creation(benchmark, as_root, rounds, creators, kind):
    """Wall time for N creators, released together, to each unshare K namespaces of one type."""
    sys = Syscalls()
    flags = c.NAMESPACE_CLONE_FLAGS[kind]
    failures = []

    def setup():
        # Forking is not timed: the clock covers only the barrier's release to the last exit.
        return fork_creators(sys, creators, flags), {}

    benchmark.pedantic(lambda write_end, pids: failures.append(release_and_wait(write_end, pids)),
                       setup=setup, rounds=max(5, rounds // 3), warmup_rounds=1)
    benchmark.extra_info.update({"creators": creators, "per_creator": PER_CREATOR})
    assert sum(failures) == 0, f"{sum(failures)} creator(s) failed to unshare {kind}"
