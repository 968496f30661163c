"""Guest tests of cgroup v2 limits, placement, freeze, kill and removal (skipped without cgroup v2 alone)."""

import json
import os
import signal
import uuid

import pytest

from harness.runtime import api
from harness.runtime import container_cgroup
from harness.runtime.cgroup_manager import Cgroup, parse_flat_keyed
from harness.runtime.cgroups import UNIFIED_ROOT, unified_root
from harness.runtime.rootfs_builder import busybox_path

pytestmark = [
    pytest.mark.requires("cgroup2"),
    pytest.mark.skipif(os.geteuid() != 0, reason="containers and cgroups need root"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
    pytest.mark.skipif(unified_root() is None, reason=f"cgroup v2 is not mounted alone at {UNIFIED_ROOT}"),
]

DEFAULT_PARENT = os.path.join(UNIFIED_ROOT, "kharness")


def cgroup_dir(container_id: str) -> str:
    return os.path.join(DEFAULT_PARENT, container_id)


def read(container_id: str, name: str) -> str:
    with open(os.path.join(cgroup_dir(container_id), name), encoding="ascii") as control:
        return control.read().strip()


def with_resources(**resources):
    """A config edit that sets linux.resources keys (memory={...}, pids={...}, ...)."""
    def edit(config):
        config["linux"]["resources"].update(resources)
    return edit


@pytest.fixture
def container(make_bundle, state_root, tmp_path):
    """container(args, edit=None) -> (id, output file): a created container whose stdout and stderr go to the file."""
    def create(args, edit=None):
        container_id = f"g-{uuid.uuid4().hex[:8]}"
        output = tmp_path / f"{container_id}.out"
        with open(output, "w") as stream:
            api.create(make_bundle(args, edit), container_id, root=state_root, stdout=stream, stderr=stream)
        return container_id, output
    return create


def finish(container_id, state_root) -> int:
    """Start a created container and wait for its exit status (the cgroup stays until delete)."""
    api.start(container_id, root=state_root)
    return api.wait(container_id, root=state_root)


def test_memory_limit_is_written_and_oom_kills(container, state_root):
    """memory.limit 32 MiB lands in memory.max; a 64 MiB buffer (dd bs=64M fills it from /dev/zero, anonymous
    memory with no swap behind it) is OOM-killed inside the cgroup, and memory.events counts the oom_kill."""
    container_id, output = container(["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?"],
                                     with_resources(memory={"limit": 32 << 20}))
    assert read(container_id, "memory.max") == str(32 << 20)
    assert parse_flat_keyed(read(container_id, "memory.events"))["oom_kill"] == 0
    assert finish(container_id, state_root) == 0
    assert "dd=137" in output.read_text()
    assert parse_flat_keyed(read(container_id, "memory.events"))["oom_kill"] >= 1


def test_pids_limit_makes_fork_fail(container, state_root):
    """pids.limit 8 lands in pids.max; a shell forking ten sleeps hits it ("can't fork") and pids.events max grows."""
    container_id, output = container(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 3 & done; wait"],
                                     with_resources(pids={"limit": 8}))
    assert read(container_id, "pids.max") == "8"
    finish(container_id, state_root)
    assert "can't fork" in output.read_text()
    assert parse_flat_keyed(read(container_id, "pids.events"))["max"] >= 1


def test_cpu_quota_period_and_shares_land_in_cpu_files(container):
    """cpu quota 10000 / period 100000 is cpu.max "10000 100000"; shares 1024 is cpu.weight 39 (runc's formula)."""
    container_id, _ = container(["true"], with_resources(cpu={"quota": 10000, "period": 100000, "shares": 1024}))
    assert read(container_id, "cpu.max") == "10000 100000"
    assert read(container_id, "cpu.weight") == "39"


@pytest.mark.requires("cpuset")
def test_cpuset_pins_the_container(container, state_root):
    """cpu.cpus "0" lands in cpuset.cpus, and the container's own Cpus_allowed_list is 0."""
    container_id, output = container(["grep", "Cpus_allowed_list", "/proc/self/status"],
                                     with_resources(cpu={"cpus": "0"}))
    assert read(container_id, "cpuset.cpus") == "0"
    assert finish(container_id, state_root) == 0
    assert output.read_text().split() == ["Cpus_allowed_list:", "0"]


@pytest.mark.requires("cgroup.freeze")
def test_pause_and_resume_toggle_frozen(container, state_root):
    """pause writes cgroup.freeze 1 and returns once cgroup.events says frozen 1 (status "paused"); resume thaws."""
    container_id, _ = container(["sleep", "30"])
    api.start(container_id, root=state_root)
    api.pause(container_id, root=state_root)
    assert parse_flat_keyed(read(container_id, "cgroup.events"))["frozen"] == 1
    assert api.state(container_id, root=state_root)["status"] == "paused"
    api.resume(container_id, root=state_root)
    assert parse_flat_keyed(read(container_id, "cgroup.events"))["frozen"] == 0
    assert api.state(container_id, root=state_root)["status"] == "running"


def without_pid_namespace(config):
    """No pid namespace: the init's death does not take its children with it, only the cgroup finds them."""
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
    config["mounts"] = [m for m in config["mounts"] if m["type"] != "proc"] + [
        {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}]
    config["linux"]["maskedPaths"] = config["linux"]["readonlyPaths"] = []


def test_kill_all_empties_the_cgroup(container, state_root):
    """kill --all KILL empties cgroup.procs of a three-process container without a pid namespace (cgroup.kill where
    the kernel has it, freeze + SIGKILL each pid + thaw where it does not, as on 5.10)."""
    container_id, _ = container(["sh", "-c", "sleep 30 & sleep 30 & exec sleep 30"], without_pid_namespace)
    api.start(container_id, root=state_root)
    cgroup = Cgroup(UNIFIED_ROOT, f"/kharness/{container_id}")
    cgroup.wait_event("populated", "1")
    api.kill(container_id, "KILL", root=state_root, all=True)
    assert read(container_id, "cgroup.procs") == ""
    assert api.wait(container_id, root=state_root) == 128 + signal.SIGKILL


@pytest.mark.requires("cgroup.freeze")
def test_kill_fallback_without_cgroup_kill(container, state_root):
    """The fallback alone (no cgroup.kill): freeze, SIGKILL every pid, thaw; cgroup.procs is empty afterwards and
    the cgroup is left thawed."""
    container_id, _ = container(["sh", "-c", "sleep 30 & sleep 30 & exec sleep 30"], without_pid_namespace)
    api.start(container_id, root=state_root)
    cgroup = Cgroup(UNIFIED_ROOT, f"/kharness/{container_id}")
    assert len(cgroup.procs()) >= 1
    cgroup.kill(native=False)
    assert cgroup.procs() == [] and read(container_id, "cgroup.freeze") == "0"


def test_delete_removes_the_cgroup(container, state_root):
    """The cgroup exists from create on; delete (of a running container, forced) removes its directory."""
    container_id, _ = container(["sleep", "30"])
    assert os.path.isdir(cgroup_dir(container_id))
    api.start(container_id, root=state_root)
    api.delete(container_id, force=True, root=state_root)
    assert not os.path.exists(cgroup_dir(container_id))


@pytest.fixture(params=["clone3", "cgroup.procs"])
def placement(request, monkeypatch):
    """Both ways into the cgroup: CLONE_INTO_CGROUP where the kernel has it, the parent's cgroup.procs write."""
    if request.param == "clone3":
        if not container_cgroup.clone_into_cgroup_supported():
            pytest.skip("clone3 has no CLONE_INTO_CGROUP on this kernel (it arrived in Linux 5.7)")
    else:
        monkeypatch.setattr(container_cgroup, "clone_into_cgroup_supported", lambda: False)
    return request.param


def test_init_is_in_its_cgroup_before_start(container, state_root, placement):
    """Right after create, before the program runs, the init's /proc/PID/cgroup already names its cgroup."""
    container_id, _ = container(["true"])
    pid = api.state(container_id, root=state_root)["pid"]
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as cgroup_file:
        assert cgroup_file.read() == f"0::/kharness/{container_id}\n"


@pytest.mark.parametrize("namespace", [False, True], ids=["host-cgroupns", "own-cgroupns"])
def test_program_sees_its_cgroup_from_its_first_instruction(container, state_root, placement, namespace):
    """The program (cat, the init itself) reads its cgroup in /proc/self/cgroup: its path, or "/" when the
    container has a cgroup namespace, which is then rooted at the container's cgroup."""
    def edit(config):
        if namespace:
            config["linux"]["namespaces"].append({"type": "cgroup"})
    container_id, output = container(["cat", "/proc/self/cgroup"], edit)
    assert finish(container_id, state_root) == 0
    assert output.read_text() == ("0::/\n" if namespace else f"0::/kharness/{container_id}\n")


@pytest.mark.parametrize("namespace", [False, True], ids=["host-cgroupns", "own-cgroupns"])
def test_exec_joins_the_cgroup(container, state_root, namespace):
    """A process exec'd into a running container is in the container's cgroup (and its cgroup namespace)."""
    def edit(config):
        if namespace:
            config["linux"]["namespaces"].append({"type": "cgroup"})
    container_id, _ = container(["sleep", "30"], edit)
    api.start(container_id, root=state_root)
    read_end, write_end = os.pipe()
    # exec_in inherits our stdout: point it at a pipe for the duration.
    saved = os.dup(1)
    try:
        os.dup2(write_end, 1)
        status = api.exec_in(container_id, ["cat", "/proc/self/cgroup"], root=state_root)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    assert status == 0
    assert text == ("0::/\n" if namespace else f"0::/kharness/{container_id}\n")


def test_stats_report_the_cgroup(container, state_root, capsys):
    """stats gives memory.current, memory.events, pids.current and cpu.stat as numbers; the CLI prints the same."""
    from harness.runtime.cli import main
    container_id, _ = container(["sleep", "30"], with_resources(pids={"limit": 100}))
    api.start(container_id, root=state_root)
    stats = api.stats(container_id, root=state_root)
    assert stats["processes"] == [api.state(container_id, root=state_root)["pid"]]
    assert stats["memory"]["current"] > 0 and "oom_kill" in stats["memory"]["events"]
    assert stats["pids"]["current"] == 1 and stats["pids"]["max"] == 100
    assert stats["cpu"]["stat"]["usage_usec"] > 0
    assert main(["--root", state_root, "stats", container_id]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["id"] == container_id and printed["memory"]["max"] == "max"


def _cgroup_tree() -> set[str]:
    return {directory for directory, _, _ in os.walk(UNIFIED_ROOT)}


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        return sorted(line.split(" - ")[0].split(None, 4)[4] for line in mountinfo)


def test_fifty_runs_leave_nothing_behind(make_bundle, state_root):
    """50 sequential api.run of /bin/true all exit 0 and leave no cgroup directory, mount or state behind."""
    bundle = make_bundle(["/bin/true"])
    assert api.run(bundle, "warm-up", root=state_root) == 0  # makes the shared parent /kharness
    cgroups, mounts = _cgroup_tree(), _mounts()
    statuses = [api.run(bundle, f"run-{index}", root=state_root) for index in range(50)]
    assert statuses == [0] * 50
    assert _cgroup_tree() == cgroups
    assert _mounts() == mounts
    assert os.listdir(state_root) == []


@pytest.mark.requires("memory.peak")
def test_memory_peak_shows_in_stats(container, state_root):
    """After a 16 MiB buffer was filled and freed, stats' memory.peak is at least 16 MiB while memory.current
    has fallen below it."""
    container_id, _ = container(["dd", "if=/dev/zero", "of=/dev/null", "bs=16M", "count=1"])
    assert finish(container_id, state_root) == 0
    memory = api.stats(container_id, root=state_root)["memory"]
    assert memory["peak"] >= 16 << 20 > memory["current"]


def _a_block_device() -> tuple[int, int] | None:
    """MAJ:MIN of a whole disk of the guest (io.max only takes existing disks)."""
    for name in sorted(os.listdir("/sys/block")):
        with open(f"/sys/block/{name}/dev", encoding="ascii") as dev:
            major, minor = dev.read().split(":")
        return int(major), int(minor)
    return None


@pytest.mark.requires("io")
def test_io_throttle_lands_in_io_max(container):
    """throttleReadBpsDevice and throttleWriteIOPSDevice of one disk become one io.max line; the kernel fills in
    "max" for the limits not given."""
    device = _a_block_device()
    if device is None:
        pytest.skip("no block device (/sys/block is empty): the guests' scratch disk needs virtio_blk, which this "
                    "kernel lacks, and io.max only takes existing disks")
    major, minor = device
    throttle = {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}
    container_id, _ = container(["true"], with_resources(blockIO=throttle))
    assert f"{major}:{minor} rbps={1 << 20} wbps=max riops=max wiops=100" in read(container_id, "io.max").splitlines()


@pytest.mark.requires("io")
def test_io_weight_lands_in_the_weight_file_the_kernel_has(container):
    """blockIO weight 500 goes to io.bfq.weight as it is where BFQ is loaded, else to io.weight (iocost) as
    runc's conversion, 4950; the kernel shows it as the cgroup's default weight."""
    container_id, _ = container(["true"], with_resources(blockIO={"weight": 500}))
    if os.path.exists(os.path.join(cgroup_dir(container_id), "io.bfq.weight")):
        assert read(container_id, "io.bfq.weight").splitlines()[0] == "default 500"
    else:
        assert read(container_id, "io.weight").splitlines()[0] == "default 4950"
