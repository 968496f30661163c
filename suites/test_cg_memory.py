"""memory controller: memory.max OOM-kills past the limit (siblings survive), memory.high throttles,
memory.oom.group kills the whole group, memory.peak records the high-water mark."""

from __future__ import annotations

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
    """Above memory.high the kernel reclaims and throttles (memory.events high grows) but does not kill."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    config = limited(with_python(container, python_in_container,
                                 allocate(python, 48, "import time; time.sleep(300)")), path,
                     memory={"limit": 256 * MiB})
    config["linux"]["resources"]["memory"]["reservation"] = 0
    running = container.start(config=config)
    cgroup = cgroup_parent.child(path)
    (cgroup / "memory.high").write_text(str(24 * MiB))
    # memory.high is set after start: touch the memory again by restarting is not needed, reclaim
    # begins at once; poll the counter rather than sleeping.
    running.wait_output("allocated", timeout=120)
    wait_for(lambda: read_keyed(cgroup / "memory.events")["high"] > 0, 60, what="memory.events high > 0")
    assert container.runtime.state(running.cid)["status"] == "running"


@pytest.mark.requires("memory.oom.group")
def test_memory_oom_group_kills_every_process(container, cgroup_parent, python_in_container):
    """With memory.oom.group = 1 an OOM kills all processes of the cgroup, not only the biggest."""
    python, _ = python_in_container
    path = cgroup_parent.cgroups_path()
    script = f"sleep 300 & echo sleeper; {python} -c 'import time; time.sleep(300)' & wait"
    config = limited(with_python(container, python_in_container, ["sh", "-c", script]), path,
                     memory={"limit": 64 * MiB, "swap": 64 * MiB})
    running = container.start(config=config)
    cgroup = cgroup_parent.child(path)
    (cgroup / "memory.oom.group").write_text("1")
    running.wait_output("sleeper")
    # Lower the limit under what is in use: the kernel OOM-kills, and with oom.group, kills all.
    (cgroup / "memory.max").write_text(str(1 * MiB))
    wait_for(lambda: read_keyed(cgroup / "memory.events").get("oom_group_kill", 0) >= 1
             or (cgroup / "cgroup.procs").read_text().strip() == "", 60, what="the group OOM kill")
    wait_for(lambda: (cgroup / "cgroup.procs").read_text().strip() == "", 60, what="every process killed")


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
