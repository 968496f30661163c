"""Tests of cgroup paths, limits, the Cgroup manager and stats on a scratch directory standing in for cgroupfs."""

import errno
import os

import pytest

from harness.runtime import constants as c
from harness.runtime import container_cgroup
from harness.runtime.cgroup_config import ControlWrite, cgroup_path, control_writes, cpu_weight, io_weight, \
    needed_controllers
from harness.runtime.cgroup_manager import Cgroup
from harness.runtime.cgroup_stats import parse_nested_keyed, read_stats
from harness.runtime.cgroups import check_resources, unified_root
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.mount_steps import PivotRoot
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.rootfs import apply_rootfs_plan
from harness.runtime.spec import load_spec
from harness.runtime.test_spec import edited

ALL_CONTROLLERS = "cpuset cpu io memory pids"


def resources_of(**settings):
    return load_spec(edited({f"linux.resources.{key}": value for key, value in settings.items()})).linux.resources


def fake_cgroupfs(tmp_path, *directories: str, controllers: str = ALL_CONTROLLERS):
    """A root with cgroup.controllers and an empty cgroup.subtree_control, and the same in each directory."""
    root = tmp_path / "cgroup"
    for directory in ("", *directories):
        path = root / directory.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        (path / "cgroup.controllers").write_text(controllers + "\n")
        (path / "cgroup.subtree_control").write_text("")
    return root


@pytest.mark.parametrize("given, expected", [
    (None, "/kharness/box"), ("", "/kharness/box"), ("/custom/place", "/custom/place"),
    ("mine/box", "/kharness/mine/box"), ("../../escape", "/kharness/escape"), ("/a/../../b", "/b"),
])
def test_cgroup_path_places_absolute_relative_and_absent(given, expected):
    """Absolute paths are under the v2 root as given, relative ones and none under /kharness; ".." stops at the
    root, as runc's CleanPath does."""
    assert cgroup_path(given, "box") == expected


def test_systemd_paths_and_the_root_are_refused():
    """A "slice:prefix:name" path names the systemd driver, which this runtime lacks; "/" is the root cgroup."""
    with pytest.raises(SpecError, match=r'linux\.cgroupsPath: "system\.slice:kharness:box" is a systemd'):
        cgroup_path("system.slice:kharness:box", "box")
    with pytest.raises(SpecError, match=r"linux\.cgroupsPath: .* names the root cgroup"):
        cgroup_path("/..", "box")


def test_limits_become_v2_files_with_runcs_conversions():
    """memory limit/reservation/swap, cpu shares/quota/period/cpus/mems, pids and blockIO in runc's order."""
    resources = resources_of(
        memory={"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
        cpu={"shares": 1024, "quota": 50000, "period": 200000, "cpus": "0-1", "mems": "0"},
        pids={"limit": 8},
        blockIO={"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                 "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100},
                                             {"major": 8, "minor": 16, "rate": 0}]})
    writes = {(write.file, write.value) for write in control_writes(resources)}
    assert writes == {
        ("memory.swap.max", str(32 << 20)), ("memory.max", str(64 << 20)), ("memory.low", str(32 << 20)),
        ("cpu.weight", "39"), ("cpu.max", "50000 200000"), ("cpuset.cpus", "0-1"), ("cpuset.mems", "0"),
        ("pids.max", "8"), ("io.bfq.weight", "500"), ("io.max", "8:0 rbps=1048576 wiops=100"),
        ("io.max", "8:16 wiops=max")}
    bfq = next(write for write in control_writes(resources) if write.file == "io.bfq.weight")
    assert bfq.alternative == ("io.weight", str(io_weight(500))) and bfq.path == "linux.resources.blockIO.weight"
    assert needed_controllers(resources) == ["memory", "pids", "cpu", "cpuset", "io"]


@pytest.mark.parametrize("memory, expected", [
    ({"limit": 100, "swap": 100}, [("memory.swap.max", "0"), ("memory.max", "100")]),
    ({"limit": 100, "swap": -1}, [("memory.swap.max", "max"), ("memory.max", "100")]),
    ({"limit": -1}, [("memory.swap.max", "max"), ("memory.max", "max")]),
    ({"limit": 100}, [("memory.max", "100")]),
])
def test_swap_is_the_part_above_memory(memory, expected):
    """The OCI swap is memory+swap: memory.swap.max gets swap - limit ("0" when equal), "max" when unlimited."""
    assert [(write.file, write.value) for write in control_writes(resources_of(memory=memory))] == expected


def test_unsupported_memory_settings_name_their_path():
    """A swap limit without a memory limit, and disableOOMKiller (no v2 equivalent), are SpecErrors."""
    with pytest.raises(SpecError, match=r"linux\.resources\.memory\.swap: a swap limit needs a memory limit"):
        control_writes(resources_of(memory={"swap": 100}))
    with pytest.raises(SpecError, match=r"linux\.resources\.memory\.disableOOMKiller: cgroup v2 has no way"):
        control_writes(resources_of(memory={"disableOOMKiller": True}))


def test_conversions_match_runc_at_the_edges():
    """cpu.shares 2 -> weight 1, 1024 -> 39, 262144 -> 10000; blkio weight 10 -> 1, 1000 -> 10000; a quota
    without a period gets the kernel's 100000; pids 0 and -1 are "max"."""
    assert (cpu_weight(2), cpu_weight(1024), cpu_weight(262144)) == (1, 39, 10000)
    assert (io_weight(10), io_weight(1000)) == (1, 10000)
    assert [(w.file, w.value) for w in control_writes(resources_of(cpu={"quota": 20000}))] == [
        ("cpu.max", "20000 100000")]
    assert [w.value for w in control_writes(resources_of(pids={"limit": -1}))] == ["max"]


def test_create_enables_controllers_top_down(tmp_path):
    """Each ancestor's cgroup.subtree_control gets "+name" for the controllers it lacks, from the root down."""
    root = fake_cgroupfs(tmp_path, "/kharness")
    (root / "cgroup.subtree_control").write_text("memory\n")
    Cgroup(str(root), "/kharness/box").create(["cpu"], optional=["memory", "pids"])
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +pids"  # memory was enabled already
    assert (root / "kharness" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / "kharness" / "box").is_dir()


def test_create_refuses_a_missing_controller_and_an_occupied_cgroup(tmp_path):
    """A required controller the parent does not offer names its cgroup.controllers; an existing cgroup with
    processes in it is not adopted."""
    root = fake_cgroupfs(tmp_path, "/kharness")
    (root / "kharness" / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(ContainerError, match=r"kharness/cgroup\.controllers does not offer the cpu controller"):
        Cgroup(str(root), "/kharness/box").create(["memory", "cpu"])
    (root / "kharness" / "box").mkdir(exist_ok=True)
    (root / "kharness" / "box" / "cgroup.procs").write_text("4242\n")
    with pytest.raises(ContainerError, match=r"already holds processes \[4242\]"):
        Cgroup(str(root), "/kharness/box").create([])


def test_an_id_naming_an_interface_file_is_refused(tmp_path):
    """The id "cgroup.procs" (valid for runc's rule) makes the cgroup path the parent's interface file: refused
    with an error naming it, not a NotADirectoryError traceback, and the file is untouched."""
    root = fake_cgroupfs(tmp_path, "/kharness")
    (root / "kharness" / "cgroup.procs").write_text("")
    with pytest.raises(ContainerError, match=r"cannot create the cgroup .*/kharness/cgroup\.procs: the parent has a "
                                             r"file of that name \(a cgroup interface file\)"):
        Cgroup(str(root), "/kharness/cgroup.procs").create([])
    assert (root / "kharness" / "cgroup.procs").read_text() == ""


def test_apply_uses_alternatives_skips_and_names_failures(tmp_path):
    """A missing file takes its alternative or is skipped if allowed; otherwise the error names the JSON path,
    the file and the value."""
    cgroup = Cgroup(str(tmp_path), "/box")
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "io.weight").write_text("")
    cgroup.apply([ControlWrite("io.bfq.weight", "500", "w", alternative=("io.weight", "4950")),
                  ControlWrite("memory.swap.max", "max", "s", skip_if_missing=True)])
    assert (tmp_path / "box" / "io.weight").read_text() == "4950"
    assert not (tmp_path / "box" / "memory.swap.max").exists()
    (tmp_path / "box" / "memory.max").mkdir()  # writing to a directory fails like a refused value would
    with pytest.raises(ContainerError, match=r"^linux\.resources\.memory\.limit: writing '64' to .*/box/memory\.max "
                                             r"failed: Is a directory$"):
        cgroup.apply([ControlWrite("memory.max", "64", "linux.resources.memory.limit")])


def test_procs_are_collected_recursively_and_removal_is_bottom_up(tmp_path):
    """procs() reads cgroup.procs of the cgroup and its descendants; remove() rmdirs children before parents."""
    (tmp_path / "box" / "inner" / "deeper").mkdir(parents=True)
    (tmp_path / "box" / "cgroup.procs").write_text("7\n")
    (tmp_path / "box" / "inner" / "deeper" / "cgroup.procs").write_text("9\n8\n")
    cgroup = Cgroup(str(tmp_path), "/box")
    assert cgroup.procs() == [7, 8, 9]
    for procs in (tmp_path / "box" / "cgroup.procs", tmp_path / "box" / "inner" / "deeper" / "cgroup.procs"):
        procs.unlink()  # cgroupfs files vanish with their directory; a scratch directory must be emptied
    cgroup.remove()
    assert not (tmp_path / "box").exists()


def test_remove_reports_what_is_not_ebusy(tmp_path):
    """An rmdir failing for another reason than EBUSY (here ENOTEMPTY) is an error naming the directory."""
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "stray").write_text("")
    with pytest.raises(ContainerError, match=r"cannot remove the cgroup .*/box: Directory not empty"):
        Cgroup(str(tmp_path), "/box").remove(deadline=0.1)


def test_wait_event_returns_on_the_value_and_times_out_naming_the_file(tmp_path):
    """wait_event reads cgroup.events until the key has the value; past the deadline it names the file."""
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    cgroup = Cgroup(str(tmp_path), "/box")
    cgroup.wait_event("frozen", "1", deadline=0.1)
    with pytest.raises(ContainerError, match=r"box/cgroup\.events still says .*waiting for frozen 0"):
        cgroup.wait_event("frozen", "0", deadline=0.1)


def test_stats_parse_flat_and_nested_files(tmp_path):
    """read_stats groups files by controller: ints for numbers, "max" kept, keyed files as dicts, io.stat nested."""
    box = tmp_path / "box"
    box.mkdir()
    files = {"cgroup.procs": "12\n", "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
             "memory.current": "4096\n", "memory.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 3\noom 1\n"
             "oom_kill 1\n", "pids.current": "1\n", "pids.max": "8\n", "pids.events": "max 2\n",
             "io.stat": "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"}
    for name, text in files.items():
        (box / name).write_text(text)
    stats = read_stats(Cgroup(str(tmp_path), "/box"))
    assert stats == {"cgroup": "/box", "processes": [12],
                     "cpu": {"stat": {"usage_usec": 1500, "user_usec": 1000, "system_usec": 500}},
                     "memory": {"current": 4096, "max": "max", "events": {"low": 0, "high": 0, "max": 3, "oom": 1,
                                                                           "oom_kill": 1}},
                     "pids": {"current": 1, "max": 8, "events": {"max": 2}},
                     "io": {"stat": {"8:0": {"rbytes": 4096, "wbytes": 0, "rios": 1, "wios": 0, "dbytes": 0,
                                             "dios": 0}}}}
    assert parse_nested_keyed("8:16 rbps=max wbps=1024\n") == {"8:16": {"rbps": "max", "wbps": 1024}}


def mountinfo_with(tmp_path, mount_point: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(f"25 1 0:22 / /sys rw - sysfs sysfs rw\n41 25 0:38 / {mount_point} rw - cgroup2 cgroup2 rw\n")
    return str(path)


def test_unified_mode_is_cgroup2_at_sys_fs_cgroup(tmp_path):
    """Only cgroup2 mounted at /sys/fs/cgroup gives containers cgroups; the hybrid /sys/fs/cgroup/unified does not."""
    assert unified_root(mountinfo_with(tmp_path, "/sys/fs/cgroup")) == "/sys/fs/cgroup"
    assert unified_root(mountinfo_with(tmp_path, "/sys/fs/cgroup/unified")) is None
    assert unified_root(str(tmp_path / "missing")) is None


def test_hybrid_host_with_controllers_refuses_limits(tmp_path):
    """v2 beside v1 hierarchies, even offering the controller, is refused naming the path and /sys/fs/cgroup."""
    hierarchy = tmp_path / "unified"
    hierarchy.mkdir()
    (hierarchy / "cgroup.controllers").write_text("cpuset pids\n")
    with pytest.raises(ContainerError, match=r"^linux\.resources\.cpu: this host mounts cgroup v2 at .*unified "
                                             r"beside v1 hierarchies"):
        check_resources(resources_of(cpu={"cpus": "0"}), mountinfo=mountinfo_with(tmp_path, str(hierarchy)))
    with pytest.raises(ContainerError, match=r"^linux\.resources\.memory: .* has cpuset pids .*memory limits"):
        check_resources(resources_of(memory={"limit": 1 << 20}), mountinfo=mountinfo_with(tmp_path, str(hierarchy)))


def test_clone_into_is_avoided_where_the_cpuset_differs(tmp_path, monkeypatch):
    """A cgroup whose effective cpuset differs from the runtime's own is entered through cgroup.procs: before
    Linux 6.2, CLONE_INTO_CGROUP did not apply the cpuset to the child."""
    monkeypatch.setattr(container_cgroup, "clone_into_cgroup_supported", lambda: True)
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0\n")
    (tmp_path / "box").mkdir()
    cgroup = Cgroup(str(tmp_path), "/box")
    assert container_cgroup.can_clone_into(cgroup, str(status))  # no cpuset files: nothing differs
    (tmp_path / "box" / "cpuset.cpus.effective").write_text("0-1\n")
    (tmp_path / "box" / "cpuset.mems.effective").write_text("0\n")
    assert container_cgroup.can_clone_into(cgroup, str(status))
    (tmp_path / "box" / "cpuset.cpus.effective").write_text("0\n")
    assert not container_cgroup.can_clone_into(cgroup, str(status))
    monkeypatch.setattr(container_cgroup, "clone_into_cgroup_supported", lambda: False)
    (tmp_path / "box" / "cpuset.cpus.effective").write_text("0-1\n")
    assert not container_cgroup.can_clone_into(cgroup, str(status))


def test_no_cgroup_on_a_host_without_cgroup2_alone(tmp_path):
    """set_up_cgroup makes nothing on a hybrid host: the container runs in the runtime's cgroup."""
    spec = load_spec(edited({}))
    assert container_cgroup.set_up_cgroup(spec, "box", RecordingSyscalls(),
                                          mountinfo=mountinfo_with(tmp_path, "/sys/fs/cgroup/unified")) is None


@pytest.mark.parametrize("initramfs", [True, False])
def test_pivot_root_falls_back_to_move_and_chroot_on_an_initramfs(tmp_path, monkeypatch, initramfs):
    """pivot_root's EINVAL on an initramfs root becomes MS_MOVE of the rootfs onto / and chroot("."), as runc's
    --no-pivot; on any other root the EINVAL is an error naming the call."""
    mountinfo = tmp_path / "mountinfo"
    fstype = "rootfs" if initramfs else "ext4"
    mountinfo.write_text(f"1 1 0:2 / / rw - {fstype} {fstype} rw\n25 1 0:22 / /sys rw - sysfs sysfs rw\n")
    monkeypatch.setattr("harness.runtime.rootfs.MOUNTINFO", str(mountinfo))
    fake = RecordingSyscalls()
    fake.fail("pivot_root", errno.EINVAL)
    if not initramfs:
        with pytest.raises(ContainerError, match=r"pivot_root: pivot_root\('\.', '\.'\) failed: EINVAL"):
            apply_rootfs_plan((PivotRoot("pivot_root", str(tmp_path)),), fake, str(tmp_path))
        return
    apply_rootfs_plan((PivotRoot("pivot_root", str(tmp_path)),), fake, str(tmp_path))
    assert fake.calls == [("chdir", (str(tmp_path),)), ("pivot_root", (".", ".")),
                          ("mount", (".", "/", None, c.MS_MOVE, None)), ("chroot", (".",)), ("chdir", ("/",))]


def hybrid_mountinfo(tmp_path, devices: str | None) -> str:
    """A hybrid host's mountinfo: cgroup2 at /sys/fs/cgroup/unified, and the v1 devices hierarchy at `devices`."""
    path = tmp_path / "mountinfo"
    lines = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    if devices is not None:
        lines += f"36 31 0:33 / {devices} rw,relatime - cgroup cgroup rw,devices\n"
    path.write_text(lines)
    return str(path)


def test_device_rules_without_v2_alone_or_v1_devices_are_refused(tmp_path):
    """runc's deny-all rule on a host with neither cgroup v2 alone nor the v1 devices controller cannot be
    enforced: a ContainerError naming linux.resources.devices and both missing mechanisms, not a silent pass."""
    default = resources_of()
    for mountinfo in (hybrid_mountinfo(tmp_path, None), str(tmp_path / "missing")):
        with pytest.raises(ContainerError, match=r"^linux\.resources\.devices: the device rules cannot be enforced on "
                                                 r"this host \(no cgroup v2 alone, no v1 devices controller\)"):
            check_resources(default, mountinfo=mountinfo)


def test_device_rules_pass_with_a_writable_v1_devices_controller(tmp_path):
    """The same rules pass where the v1 devices hierarchy is mounted (and writable), or where cgroup v2 runs alone;
    a spec without device rules passes anywhere."""
    devices = tmp_path / "devices"
    devices.mkdir()
    check_resources(resources_of(), mountinfo=hybrid_mountinfo(tmp_path, str(devices)))
    check_resources(resources_of(), mountinfo=mountinfo_with(tmp_path, "/sys/fs/cgroup"))
    check_resources(load_spec(edited({"linux.resources.devices": []})).linux.resources,
                    mountinfo=hybrid_mountinfo(tmp_path, None))


def test_device_rules_v1_cannot_express_are_refused_only_where_v1_enforces_them(tmp_path):
    """An allow-all followed by a deny is a SpecError naming the deny on a hybrid host (before anything is made);
    on cgroup v2 alone the eBPF program expresses it, so it passes there."""
    devices = tmp_path / "devices"
    devices.mkdir()
    resources = resources_of(devices=[{"allow": True, "access": "rwm"},
                                      {"allow": False, "type": "c", "major": 1, "minor": 1, "access": "rwm"}])
    with pytest.raises(SpecError, match=r"^linux\.resources\.devices\[1\]: this deny rule \(c 1:1 rwm\) takes back "
                                        r"access that linux\.resources\.devices\[0\] \(the allow-all rule\) grants"):
        check_resources(resources, mountinfo=hybrid_mountinfo(tmp_path, str(devices)))
    assert os.listdir(devices) == []
    check_resources(resources, mountinfo=mountinfo_with(tmp_path, "/sys/fs/cgroup"))


def test_an_unwritable_v1_devices_controller_is_refused(tmp_path, monkeypatch):
    """A user who cannot write the v1 devices hierarchy cannot enforce the rules: refused naming the mount."""
    devices = tmp_path / "devices"
    devices.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: not (path == str(devices) and mode == os.W_OK))
    with pytest.raises(ContainerError, match=r"^linux\.resources\.devices: .*/devices \(the cgroup v1 devices "
                                             r"controller that enforces the device rules on this host\) is not "
                                             r"writable"):
        check_resources(resources_of(), mountinfo=hybrid_mountinfo(tmp_path, str(devices)))
