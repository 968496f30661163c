"""Time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets apply inside only; the host's clocks are untouched."""

from __future__ import annotations

import os
import time

import pytest

from harness.containers import with_namespaces

pytestmark = pytest.mark.requires("time_namespace")

DAY = 86400
MONOTONIC_OFFSET, BOOTTIME_OFFSET = 7 * DAY, 30 * DAY
OFFSETS = {"monotonic": {"secs": MONOTONIC_OFFSET, "nanosecs": 0}, "boottime": {"secs": BOOTTIME_OFFSET, "nanosecs": 0}}
KINDS = ["pid", "network", "ipc", "uts", "mount", "time"]

# Prints time.monotonic() (CLOCK_MONOTONIC) and CLOCK_BOOTTIME as the container sees them.
_CLOCKS = "import time; print(time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME))"


def time_config(container, args: list[str], offsets: dict | None = OFFSETS) -> dict:
    config = with_namespaces(container.config(args), KINDS)
    if offsets is not None:
        config["linux"]["timeOffsets"] = offsets
    return config


def host_clocks() -> tuple[float, float]:
    return time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME)


def uptime(text: str) -> float:
    return float(text.split()[0])


def offsets_of(pid: int | str) -> dict[str, tuple[int, int]]:
    """/proc/PID/timens_offsets: clock name -> (seconds, nanoseconds) of the process's time namespace."""
    with open(f"/proc/{pid}/timens_offsets") as offsets:
        return {clock: (int(secs), int(nsecs)) for clock, secs, nsecs in (line.split() for line in offsets)}


def test_uptime_inside_includes_the_boottime_offset(container):
    """/proc/uptime follows CLOCK_BOOTTIME of the reader's time namespace: 30 days more inside than on the host."""
    with open("/proc/uptime") as host:
        before = uptime(host.read())
    inside = uptime(container.run(config=time_config(container, ["cat", "/proc/uptime"])).check().stdout)
    with open("/proc/uptime") as host:
        after = uptime(host.read())
    # /proc/uptime has a resolution of 10 ms.
    assert before + BOOTTIME_OFFSET - 0.01 <= inside <= after + BOOTTIME_OFFSET + 0.01
    assert after < before + DAY, "the host's uptime jumped"


def test_clocks_inside_are_shifted_by_the_offsets(container, python_in_container):
    """CLOCK_MONOTONIC inside is the host's plus 7 days and CLOCK_BOOTTIME the host's plus 30 days, read between
    two host readings (so within the time the container took)."""
    interpreter, mounts = python_in_container
    config = time_config(container, [interpreter, "-c", _CLOCKS])
    config["mounts"].extend(mounts)
    before = host_clocks()
    monotonic, boottime = (float(word) for word in container.run(config=config).check().stdout.split())
    after = host_clocks()
    assert before[0] + MONOTONIC_OFFSET <= monotonic <= after[0] + MONOTONIC_OFFSET
    assert before[1] + BOOTTIME_OFFSET <= boottime <= after[1] + BOOTTIME_OFFSET
    assert after[0] - before[0] < DAY and after[1] - before[1] < DAY, "the host's clocks jumped"


def test_offsets_belong_to_the_container_and_the_host_keeps_its_own_clocks(container):
    """The offsets are the container's time namespace's: /proc/PID/timens_offsets shows them for its process, the
    host's (and the runtime's own and its future children's) time namespace is unchanged with zero offsets."""
    own, for_children = os.readlink("/proc/self/ns/time"), os.readlink("/proc/self/ns/time_for_children")
    before = host_clocks()
    running = container.start(config=time_config(container, ["sh", "-c", "echo ready; sleep 300"]))
    running.wait_output("ready")
    assert offsets_of(running.pid) == {"monotonic": (MONOTONIC_OFFSET, 0), "boottime": (BOOTTIME_OFFSET, 0)}
    assert offsets_of("self") == {"monotonic": (0, 0), "boottime": (0, 0)}
    assert (os.readlink("/proc/self/ns/time"), os.readlink("/proc/self/ns/time_for_children")) == (own, for_children)
    after = host_clocks()
    assert 0 <= after[0] - before[0] < DAY and 0 <= after[1] - before[1] < DAY


def test_time_namespace_without_offsets_is_still_its_own(container):
    """A time namespace without offsets is a new namespace all the same: its /proc/PID/ns/time differs from the
    host's, the container sees that same namespace as its own, and its offsets are zero."""
    running = container.start(config=time_config(container, ["sh", "-c", "readlink /proc/self/ns/time; echo ready; "
                                                                         "sleep 300"], offsets=None))
    inside = running.wait_output("ready").split()[0]
    outside = os.readlink(f"/proc/{running.pid}/ns/time")
    assert outside != os.readlink("/proc/self/ns/time")
    assert inside == outside
    assert offsets_of(running.pid) == {"monotonic": (0, 0), "boottime": (0, 0)}
