"""Tests of the v1 devices cgroup's life: made with its rules, joined, refused when occupied, removed."""

import errno
import os
import uuid

import pytest

from harness.runtime import devices_v1
from harness.runtime.devicefilter import effective_rules
from harness.runtime.devices_v1 import DevicesV1Cgroup, devices_v1_for, devices_v1_mount, \
    planned_v1_devices_path, remove_v1_devices, v1_rules
from harness.runtime.default_spec import default_config
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.spec import load_spec
from harness.runtime.spec_resources import DeviceRule

# A host running cgroup v2 alone: no v1 hierarchy at all.
UNIFIED_MOUNTINFO = """\
22 27 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
RUNC_DEFAULT = load_spec(default_config()).linux.resources.devices
ALLOW_ALL = DeviceRule(allow=True)


def saved(tmp_path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return str(path)


# -- the cgroup, on a scratch directory -----------------------------------------------------------------------

def scratch_devices_mount(tmp_path) -> tuple[str, str]:
    """A directory standing in for the v1 devices hierarchy, and a mountinfo naming it."""
    mount_point = tmp_path / "devices"
    mount_point.mkdir()
    return str(mount_point), saved(tmp_path, f"38 31 0:35 / {mount_point} rw,relatime - cgroup cgroup rw,devices\n")


def test_create_places_the_cgroup_like_v2_and_writes_the_rules_in_order(tmp_path, monkeypatch):
    """The directory is <mount>/kharness/<id> (or linux.cgroupsPath), and the writes are v1_rules' of the spec's
    rules plus the defaults, one write each, in order."""
    mount_point, mountinfo = scratch_devices_mount(tmp_path)
    written = []
    monkeypatch.setattr(devices_v1, "write_once", lambda path, text: written.append((path, text)))
    devices = DevicesV1Cgroup.create(RUNC_DEFAULT, None, "box", mountinfo=mountinfo)
    assert devices.path == os.path.join(mount_point, "kharness", "box") and os.path.isdir(devices.path)
    assert written == [(os.path.join(devices.path, file), line) for file, line in
                       v1_rules(effective_rules(RUNC_DEFAULT))]
    devices.add_process(4242)
    assert written[-1] == (os.path.join(devices.path, "cgroup.procs"), "4242")
    placed = DevicesV1Cgroup.create(RUNC_DEFAULT, "/custom/place", "box", mountinfo=mountinfo)
    assert placed.path == os.path.join(mount_point, "custom", "place")


def test_a_failed_write_names_the_file_and_line_and_leaves_no_directory(tmp_path):
    """On a plain directory devices.deny does not exist: the ContainerError names the file and the line, and the
    directory made for the container is gone again."""
    mount_point, mountinfo = scratch_devices_mount(tmp_path)
    with pytest.raises(ContainerError, match=r"^linux\.resources\.devices: writing 'a' to .*/kharness/box/"
                                             r"devices\.deny failed: No such file or directory$"):
        DevicesV1Cgroup.create(RUNC_DEFAULT, None, "box", mountinfo=mountinfo)
    assert not os.path.exists(os.path.join(mount_point, "kharness", "box"))


def test_refusals_come_before_anything_is_made(tmp_path):
    """A list v1 cannot express is refused before the directory exists; no devices mount is a ContainerError."""
    mount_point, mountinfo = scratch_devices_mount(tmp_path)
    with pytest.raises(SpecError, match=r"linux\.resources\.devices\[1\]"):
        DevicesV1Cgroup.create((ALLOW_ALL, DeviceRule(allow=False, type="c", major=1, minor=1)), None, "box",
                               mountinfo=mountinfo)
    assert os.listdir(mount_point) == []
    with pytest.raises(ContainerError, match=r"no cgroup v1 hierarchy with the devices controller is mounted"):
        DevicesV1Cgroup.create(RUNC_DEFAULT, None, "box", mountinfo=saved(tmp_path, UNIFIED_MOUNTINFO))


def test_an_id_naming_an_interface_file_is_refused(tmp_path):
    """The id "cgroup.procs" names the parent's interface file: refused naming it, and the file stays."""
    mount_point, mountinfo = scratch_devices_mount(tmp_path)
    os.makedirs(os.path.join(mount_point, "kharness"))
    interface = os.path.join(mount_point, "kharness", "cgroup.procs")
    open(interface, "w").close()
    with pytest.raises(ContainerError, match=r"cannot create the devices cgroup .*/kharness/cgroup\.procs: the "
                                             r"parent has a file of that name"):
        DevicesV1Cgroup.create(RUNC_DEFAULT, None, "cgroup.procs", mountinfo=mountinfo)
    assert os.path.isfile(interface)


def test_an_occupied_cgroup_is_not_adopted_nor_removed(tmp_path):
    """An existing directory holding processes belongs to someone else: refused, and left as it was."""
    mount_point, mountinfo = scratch_devices_mount(tmp_path)
    occupied = os.path.join(mount_point, "kharness", "box")
    os.makedirs(occupied)
    with open(os.path.join(occupied, "cgroup.procs"), "w") as procs:
        procs.write("4242\n")
    with pytest.raises(ContainerError, match=r"the devices cgroup .*/kharness/box already holds processes \[4242\]"):
        DevicesV1Cgroup.create(RUNC_DEFAULT, None, "box", mountinfo=mountinfo)
    assert os.path.exists(os.path.join(occupied, "cgroup.procs"))


def test_remove_tolerates_a_missing_cgroup_and_retries_ebusy(tmp_path, monkeypatch):
    """A cgroup already gone is fine (remove_v1_devices(None) too); EBUSY is retried until the rmdir succeeds, and
    past the deadline it is an error naming the directory."""
    remove_v1_devices(None)
    remove_v1_devices(str(tmp_path / "gone"))
    (tmp_path / "box").mkdir()
    real_rmdir, refusals = os.rmdir, []

    def busy_twice(path):
        if len(refusals) < 2:
            refusals.append(path)
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        real_rmdir(path)
    monkeypatch.setattr(os, "rmdir", busy_twice)
    remove_v1_devices(str(tmp_path / "box"))
    assert len(refusals) == 2 and not (tmp_path / "box").exists()
    (tmp_path / "stuck").mkdir()
    monkeypatch.setattr(os, "rmdir", lambda path: (_ for _ in ()).throw(OSError(errno.EBUSY, "Device or resource "
                                                                                "busy", path)))
    with pytest.raises(ContainerError, match=r"cannot remove the devices cgroup .*/stuck: Device or resource busy"):
        DevicesV1Cgroup(str(tmp_path / "stuck")).remove(deadline=0.1)


def test_remove_reports_what_is_not_ebusy(tmp_path):
    """An rmdir failing otherwise (here ENOTEMPTY: not a cgroup directory) is an error naming the directory."""
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "stray").write_text("")
    with pytest.raises(ContainerError, match=r"cannot remove the devices cgroup .*/box: Directory not empty"):
        DevicesV1Cgroup(str(tmp_path / "box")).remove(deadline=0.1)


def test_create_makes_a_devices_cgroup_only_where_v1_enforces_and_delete_finds_it(tmp_path, monkeypatch):
    """devices_v1_for gives None on a v2-alone host and without rules; on a hybrid host it makes the cgroup at the
    path planned_v1_devices_path predicts (what `delete` removes after a creator died before recording it)."""
    mount_point, _ = scratch_devices_mount(tmp_path)
    resources = load_spec(default_config()).linux.resources
    monkeypatch.setattr(devices_v1, "write_once", lambda path, text: None)
    assert devices_v1_for(resources, None, "box", mountinfo=saved(tmp_path, UNIFIED_MOUNTINFO)) is None
    assert planned_v1_devices_path(resources, None, "box", mountinfo=saved(tmp_path, UNIFIED_MOUNTINFO)) is None
    mountinfo = str(tmp_path / "hybrid")
    with open(mountinfo, "w") as lines:
        lines.write(f"38 31 0:35 / {mount_point} rw,relatime - cgroup cgroup rw,devices\n"
                    "32 31 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    assert devices_v1_for(None, None, "box", mountinfo=mountinfo) is None
    devices = devices_v1_for(resources, "/a/b", "box", mountinfo=mountinfo)
    assert devices.path == planned_v1_devices_path(resources, "/a/b", "box", mountinfo=mountinfo) \
        == os.path.join(mount_point, "a", "b")
    assert os.path.isdir(devices.path)


# -- the cgroup, on the running kernel ------------------------------------------------------------------------

def test_default_rules_let_a_process_open_dev_null_but_not_dev_mem(tmp_path):
    """With runc's default rules in a v1 devices cgroup, a process moved into it opens /dev/null (c 1:3) but gets
    EPERM opening a node of /dev/mem (c 1:1), which it may still create (c *:* m); removal leaves no directory."""
    if os.geteuid() != 0:
        pytest.skip("creating a v1 devices cgroup needs root")
    if devices_v1_mount() is None:
        pytest.skip("no cgroup v1 hierarchy with the devices controller is mounted on this host")
    memory_node = str(tmp_path / "mem")
    os.mknod(memory_node, 0o600 | 0o020000, os.makedev(1, 1))
    try:
        os.close(os.open(memory_node, os.O_RDONLY))
    except OSError as error:  # ENXIO without /dev/mem support (CONFIG_DEVMEM=n): fine, the driver was reached
        if error.errno == errno.EPERM:
            pytest.skip(f"opening c 1:1 fails with EPERM outside any devices cgroup already: {error}")
    go_read, go_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: wait to be moved, then report each open's outcome; never return into pytest
        try:
            os.close(go_write)
            os.close(result_read)
            os.read(go_read, 1)
            outcomes = []
            for path, flags in (("/dev/null", os.O_RDWR), (memory_node, os.O_RDONLY)):
                try:
                    os.close(os.open(path, flags))
                    outcomes.append("ok")
                except OSError as error:
                    outcomes.append(errno.errorcode[error.errno])
            try:
                os.mknod(memory_node + "-again", 0o600 | 0o020000, os.makedev(1, 1))
                outcomes.append("ok")
            except OSError as error:
                outcomes.append(errno.errorcode[error.errno])
            os.write(result_write, " ".join(outcomes).encode())
        finally:
            os._exit(0)
    os.close(go_read)
    os.close(result_write)
    devices = None
    reaped = False
    try:
        devices = DevicesV1Cgroup.create(RUNC_DEFAULT, f"/kharness-test-{uuid.uuid4().hex[:12]}", "unused")
        devices.add_process(pid)
        assert devices.procs() == [pid]
        os.write(go_write, b"g")
        with os.fdopen(result_read, "rb") as results:
            result_read = -1
            outcomes = results.read().decode()
        os.waitpid(pid, 0)
        reaped = True
        assert outcomes == "ok EPERM ok"
        devices.remove()
        assert not os.path.exists(devices.path)
    finally:
        os.close(go_write)
        if result_read != -1:
            os.close(result_read)
        if not reaped:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        if devices is not None:
            devices.remove()
