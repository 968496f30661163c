"""memory controller: memory.max OOM-kills past the limit (siblings survive), memory.high throttles,
memory.oom.group kills the whole group, memory.peak records the high-water mark."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.containers import wait_for

from .cgroup_support import limited, read_keyed

MiB = 1 << 20


def allocate(python: str, mib: int, then: str = "") -> list[str]:
    """A workload that touches `mib` MiB page by page (so it is charged), then runs `then` (python)."""
    code = (f"b = bytearray({mib} * {MiB})\n"
            f"for i in range(0, len(b), 4096): b[i] = 1\n"
            f"print('allocated', flush=True)\n{then}")
    return [python, "-c", code]


def with_python(container, python_in_container, args):
    python, mounts = python_in_container
    config = container.config(args)
    config["mounts"].extend(mounts)
    return config


def test_memory_max_oom_kills_the_container_and_counts_it(container, cgroup_parent, python_in_container):
    """A process allocating 96 MiB under memory.max = 32 MiB is OOM-killed; memory.events oom_kill grows."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    config = limited(with_python(container, python_in_container, allocate(python, 96)), path,
                     memory={"limit": 32 * MiB, "swap": 32 * MiB})
    result = container.run(config=config)
    assert result.status == 137, f"expected SIGKILL by the OOM killer, got {result.status}: {result.stderr[-300:]}"
    assert read_keyed(cgroup_parent.path / "memory.events")["oom_kill"] >= 1


def test_memory_max_is_written_as_requested(container, cgroup_parent):
    """linux.resources.memory.limit lands in memory.max (bytes, page aligned)."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(["sleep", "300"]), path,
                                             memory={"limit": 48 * MiB}))
    assert (cgroup_parent.child(path) / "memory.max").read_text().strip() == str(48 * MiB)
    assert running.pid > 0


def test_sibling_survives_a_neighbours_oom(container, cgroup_parent, python_in_container):
    """An OOM kill in one container's cgroup leaves a sibling container under the same parent running."""
    python, _ = python_in_container
    sibling = container.start(config=limited(container.config(["sleep", "300"]), cgroup_parent.cgroups_path()))
    config = limited(with_python(container, python_in_container, allocate(python, 96)),
                     cgroup_parent.cgroups_path(), memory={"limit": 32 * MiB, "swap": 32 * MiB})
    assert container.run(config=config).status == 137
    assert container.runtime.state(sibling.cid)["status"] == "running"


def test_memory_high_throttles_without_killing(container, cgroup_parent, python_in_container):
    """Above memory.high the kernel reclaims and throttles (memory.events high grows) but does not kill: a
    process touching 32 MiB under memory.high = 24 MiB gets through its allocation and keeps running."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    # 32 MiB, not more: with no swap nothing of it can be reclaimed, so the kernel's throttling sleep grows with the
    # square of the overage (48 MiB took 28-43 s under TCG, 30 MiB 19 s), and the behaviour asserted is the same.
    config = limited(with_python(container, python_in_container,
                                 allocate(python, 32, "import time; time.sleep(300)")), path,
                     memory={"limit": 256 * MiB})
    config["linux"]["resources"]["memory"]["reservation"] = 0
    running = container.create(config=config)
    cgroup = cgroup_parent.child(path)
    # Between create and start: the limit is in place before the first page is touched.
    (cgroup / "memory.high").write_text(str(24 * MiB))
    container.runtime.start(running.cid)
    running.wait_output("allocated", timeout=120)
    wait_for(lambda: read_keyed(cgroup / "memory.events")["high"] > 0, 60, what="memory.events high > 0")
    assert container.runtime.state(running.cid)["status"] == "running"


def procs(cgroup) -> list[int]:
    return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]


def comms(cgroup) -> list[str]:
    """The command names of the cgroup's processes (read from the host's /proc), sorted; one that exits meanwhile
    is left out."""
    names = []
    for pid in procs(cgroup):
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except FileNotFoundError:
            continue
    return sorted(names)


def oom_in_a_group(container, cgroup_parent, python_in_container, oom_group: bool):
    """A container of three processes under memory.max = 64 MiB: its shell, a `sleep` and python, which touches
    128 MiB and so is the OOM killer's victim. memory.oom.group is written between create and start, so the OOM
    finds it set (or clear); returns once memory.events counts an OOM kill (running, cgroup)."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    hog = shlex.join(allocate(python, 128))
    script = f"sleep 300 & {hog}; echo hog-exit $?; wait"
    config = limited(with_python(container, python_in_container, ["sh", "-c", script]), path,
                     memory={"limit": 64 * MiB, "swap": 64 * MiB})
    running = container.create(config=config)
    cgroup = cgroup_parent.child(path)
    (cgroup / "memory.oom.group").write_text("1" if oom_group else "0")
    container.runtime.start(running.cid)
    wait_for(lambda: read_keyed(cgroup / "memory.events")["oom_kill"] >= 1, 120,
             what=f"an OOM kill counted in {cgroup}/memory.events")
    return running, cgroup


@pytest.mark.requires("memory.oom.group")
def test_memory_oom_group_kills_every_process(container, cgroup_parent, python_in_container):
    """With memory.oom.group = 1 an OOM kills every process of the cgroup (the shell and its idle sleep too), not
    only the biggest; test_memory_oom_without_group_kills_only_the_biggest is the control that this trigger alone
    does not kill them all."""
    _, cgroup = oom_in_a_group(container, cgroup_parent, python_in_container, oom_group=True)
    # The group kill is a SIGKILL to each member: poll until they are gone rather than sleep.
    try:
        wait_for(lambda: not procs(cgroup), 60, what=f"every process of {cgroup} killed")
    except AssertionError:
        raise AssertionError(f"memory.oom.group = 1, yet after the OOM kill {comms(cgroup)} still run in {cgroup} "
                             f"(memory.events: {read_keyed(cgroup / 'memory.events')})") from None


@pytest.mark.requires("memory.oom.group")
def test_memory_oom_without_group_kills_only_the_biggest(container, cgroup_parent, python_in_container):
    """Control of the group kill: with memory.oom.group = 0 the same OOM kills only python (the biggest); the
    shell reports its SIGKILL (exit 137) and still runs, with its sleep."""
    running, cgroup = oom_in_a_group(container, cgroup_parent, python_in_container, oom_group=False)
    running.wait_output("hog-exit", timeout=60)
    assert "hog-exit 137" in running.output_text(), f"python was not OOM-killed: {running.output_text()[-300:]}"
    assert comms(cgroup) == ["sh", "sleep"], f"the OOM killer took more than its victim: {comms(cgroup)} remain"
    assert read_keyed(cgroup / "memory.events").get("oom_group_kill", 0) == 0


@pytest.mark.requires("memory.oom.group", "memory.events.oom_group_kill")
def test_memory_oom_group_kill_is_counted(container, cgroup_parent, python_in_container):
    """memory.events oom_group_kill counts the group OOM kill (Linux 5.17+): the kernel itself says it killed the
    group, not just the one victim that an OOM without oom.group would kill too."""
    _, cgroup = oom_in_a_group(container, cgroup_parent, python_in_container, oom_group=True)
    wait_for(lambda: not procs(cgroup), 60, what=f"every process of {cgroup} killed")
    events = read_keyed(cgroup / "memory.events")
    assert events["oom_group_kill"] >= 1, f"no group OOM kill counted in {cgroup}/memory.events: {events}"


@pytest.mark.requires("memory.peak")
def test_memory_peak_records_the_high_water_mark(container, cgroup_parent, python_in_container):
    """memory.peak is at least what the container allocated, after it freed it."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    config = limited(with_python(container, python_in_container,
                                 allocate(python, 40, "del b\nimport time; time.sleep(300)")), path,
                     memory={"limit": 256 * MiB})
    running = container.start(config=config)
    running.wait_output("allocated", timeout=120)
    cgroup = cgroup_parent.child(path)
    wait_for(lambda: int((cgroup / "memory.peak").read_text()) >= 40 * MiB, 60, what="memory.peak >= 40 MiB")
