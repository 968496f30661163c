"""Tests of the mount plan and its execution against the recording fake, on a scratch rootfs directory (no root)."""

import errno
import os
import stat

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.mount_options import parse_mount_options
from harness.runtime.mount_steps import MaskPath, MountStep, PivotRoot, ReadonlyPath, Symlink
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.rootfs import apply_rootfs_plan
from harness.runtime.rootfs_plan import plan_rootfs
from harness.runtime.securejoin import resolve_in_root
from harness.runtime.spec import load_spec
from harness.runtime.test_spec import edited, runc_config

PIVOT_CALLS = ["chdir", "pivot_root", "umount2", "chdir"]


@pytest.fixture
def bundle(tmp_path):
    """A bundle directory with an empty rootfs/ (symlink-free, as the runtime would realpath it)."""
    root = tmp_path.resolve()
    (root / "rootfs").mkdir()
    return root


def plan_and_apply(config: dict, bundle) -> tuple[RecordingSyscalls, str]:
    """Plan the config's mounts and run the plan on the fake; returns the fake and the rootfs path."""
    rootfs = str(bundle / "rootfs")
    fake = RecordingSyscalls()
    apply_rootfs_plan(plan_rootfs(load_spec(config), rootfs, str(bundle)), fake, rootfs)
    return fake, rootfs


def mounts_onto(fake: RecordingSyscalls, target: str) -> list[tuple]:
    """The recorded mount calls whose target is `target`."""
    return [arguments for arguments in fake.arguments_of("mount") if arguments[1] == target]


def test_runc_default_spec_mounts_in_order_then_pivots(bundle):
    """runc's default config: private /, rootfs bind, proc, /dev tmpfs with data, devpts, shm, mqueue,
    sysfs read-only, cgroup2 for the `cgroup` entry, and pivot_root(".", ".") + detach as the last calls."""
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    mounts = fake.arguments_of("mount")
    assert mounts[0] == (None, "/", None, c.MS_REC | c.MS_PRIVATE, None)
    assert mounts[1] == (rootfs, rootfs, None, c.MS_BIND | c.MS_REC, None)
    assert mounts[2] == ("proc", f"{rootfs}/proc", "proc", 0, None)
    assert mounts[3] == ("tmpfs", f"{rootfs}/dev", "tmpfs", c.MS_NOSUID | c.MS_STRICTATIME, "mode=755,size=65536k")
    assert mounts[4] == ("devpts", f"{rootfs}/dev/pts", "devpts", c.MS_NOSUID | c.MS_NOEXEC,
                         "newinstance,ptmxmode=0666,mode=0620,gid=5")
    assert mounts[7] == ("sysfs", f"{rootfs}/sys", "sysfs", c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RDONLY, None)
    assert mounts[8][1:3] == (f"{rootfs}/sys/fs/cgroup", "cgroup2")
    assert fake.names()[-4:] == PIVOT_CALLS
    assert fake.calls[-4:] == [("chdir", (rootfs,)), ("pivot_root", (".", ".")), ("umount2", (".", c.MNT_DETACH)),
                               ("chdir", ("/",))]


def test_minimal_dev_makes_nodes_and_symlinks(bundle):
    """/dev/null and friends are made with mknod (0666 character devices, as runc); ptmx, fd and stdio are
    symlinks."""
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    nodes = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
    assert fake.arguments_of("mknod") == [(f"{rootfs}/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(*numbers))
                                          for name, numbers in nodes.items()]
    assert mounts_onto(fake, f"{rootfs}/dev/null") == []
    assert os.readlink(f"{rootfs}/dev/ptmx") == "pts/ptmx"
    assert os.readlink(f"{rootfs}/dev/fd") == "/proc/self/fd"
    assert os.readlink(f"{rootfs}/dev/stderr") == "/proc/self/fd/2"


def test_user_namespace_binds_host_nodes_over_empty_files(bundle):
    """In a user namespace, where mknod is refused, the host's nodes are bound over empty files instead."""
    config = edited({"linux.namespaces[5]": {"type": "user"},
                     "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                     "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    fake, rootfs = plan_and_apply(config, bundle)
    assert "mknod" not in fake.names()
    for name in ("null", "zero", "full", "random", "urandom"):
        assert mounts_onto(fake, f"{rootfs}/dev/{name}") == [(f"/dev/{name}", f"{rootfs}/dev/{name}", None,
                                                              c.MS_BIND, None)]
        assert os.path.isfile(f"{rootfs}/dev/{name}")


def test_refused_cgroup2_mount_binds_the_host_hierarchy(bundle):
    """A cgroup2 mount refused with EPERM (a user namespace without a cgroup namespace) becomes a recursive bind
    of the host's /sys/fs/cgroup, remounted read-only as the spec asks (runc does the same)."""
    fake = RecordingSyscalls()
    fake.fail("mount", errno.EPERM, when=lambda arguments: arguments[2] == "cgroup2")
    rootfs = str(bundle / "rootfs")
    apply_rootfs_plan(plan_rootfs(load_spec(runc_config()), rootfs, str(bundle)), fake, rootfs)
    target = f"{rootfs}/sys/fs/cgroup"
    refused, bind, remount = mounts_onto(fake, target)
    assert refused[2] == "cgroup2"
    assert bind == ("/sys/fs/cgroup", target, None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY


def test_bind_mount_of_host_dev_brings_no_devices(bundle):
    """A spec that binds the host's /dev gets no device binds of its own, as in runc."""
    config = edited({"mounts": [{"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}]})
    fake, rootfs = plan_and_apply(config, bundle)
    assert mounts_onto(fake, f"{rootfs}/dev") == [("/dev", f"{rootfs}/dev", None, c.MS_BIND | c.MS_REC, None)]
    assert mounts_onto(fake, f"{rootfs}/dev/null") == []


def test_read_only_bind_mount_is_bound_then_remounted(bundle):
    """A bind mount with `ro` takes two calls: the bind (which ignores ro) and a read-only remount; a relative
    source is relative to the bundle, and the mount point is created like the source (a directory here)."""
    (bundle / "data").mkdir()
    config = edited({"mounts": [{"destination": "/mnt/data", "type": "bind", "source": "data",
                                 "options": ["rbind", "ro", "rprivate"]}]})
    fake, rootfs = plan_and_apply(config, bundle)
    target = f"{rootfs}/mnt/data"
    bind, remount, propagation = mounts_onto(fake, target)
    assert bind == (f"{bundle}/data", target, None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    assert propagation == (None, target, None, c.MS_PRIVATE | c.MS_REC, None)
    assert os.path.isdir(target)


def test_bind_mount_of_a_file_creates_a_file_mount_point(bundle):
    """Binding a file needs a file to mount over: the plan's executor creates an empty one."""
    (bundle / "hosts").write_text("127.0.0.1 localhost\n")
    config = edited({"mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "hosts"}]})
    fake, rootfs = plan_and_apply(config, bundle)
    assert os.path.isfile(f"{rootfs}/etc/hosts") and mounts_onto(fake, f"{rootfs}/etc/hosts")


def test_destination_escaping_through_a_symlink_is_refused_naming_the_mount(bundle):
    """A destination whose symlink climbs above the rootfs is an error naming mounts[N], and nothing is mounted."""
    os.symlink("../../../..", bundle / "rootfs" / "escape")
    config = edited({"mounts": [{"destination": "/escape/etc", "type": "tmpfs", "source": "tmpfs"}]})
    with pytest.raises(ContainerError, match=r"mounts\[0\] \(/escape/etc\).*outside the container's root") as caught:
        plan_and_apply(config, bundle)
    assert "/escape/etc" in str(caught.value)
    assert not os.path.exists(bundle / "etc")


def test_absolute_symlink_resolves_inside_the_rootfs(bundle):
    """An absolute symlink in the rootfs (/var/run -> /run) is followed relative to the rootfs, as in securejoin."""
    rootfs = bundle / "rootfs"
    (rootfs / "var").mkdir()
    os.symlink("/run", rootfs / "var" / "run")
    assert resolve_in_root(str(rootfs), "/var/run/x", "test") == f"{rootfs}/run/x"
    assert resolve_in_root(str(rootfs), "/a/../b/./c", "test") == f"{rootfs}/b/c"


def test_symlink_loop_is_refused(bundle):
    """A symlink loop is an error (ELOOP) naming what was being resolved, not an endless walk."""
    os.symlink("loop", bundle / "rootfs" / "loop")
    with pytest.raises(ContainerError, match="mounts.0.*ELOOP"):
        resolve_in_root(str(bundle / "rootfs"), "/loop/x", "mounts[0] (/loop/x)")


def test_masked_paths_bind_null_over_files_and_ro_tmpfs_over_dirs(bundle):
    """maskedPaths: /dev/null over a file, an empty read-only tmpfs over a directory, nothing for a missing one."""
    proc = bundle / "rootfs" / "proc"
    (proc / "acpi").mkdir(parents=True)
    (proc / "kcore").write_text("")
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    assert mounts_onto(fake, f"{rootfs}/proc/kcore") == [("/dev/null", f"{rootfs}/proc/kcore", None, c.MS_BIND, None)]
    assert mounts_onto(fake, f"{rootfs}/proc/acpi") == [("tmpfs", f"{rootfs}/proc/acpi", "tmpfs", c.MS_RDONLY, None)]
    assert mounts_onto(fake, f"{rootfs}/proc/keys") == []


def test_readonly_paths_are_bound_and_remounted_read_only(bundle):
    """readonlyPaths: the path bound onto itself, then remounted with MS_RDONLY (before pivot_root)."""
    (bundle / "rootfs" / "proc" / "sys").mkdir(parents=True)
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    path = f"{rootfs}/proc/sys"
    bind, remount = mounts_onto(fake, path)
    assert bind == (path, path, None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    assert fake.calls.index(("mount", remount)) < fake.names().index("pivot_root")


def test_read_only_root_is_remounted_just_before_the_pivot(bundle):
    """root.readonly remounts the rootfs bind read-only as the last mount before pivot_root."""
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    last_mount = fake.calls[-5]
    assert last_mount[0] == "mount" and last_mount[1][1] == rootfs
    assert last_mount[1][3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY


def test_sysctl_is_written_under_proc_sys_of_the_rootfs(bundle):
    """linux.sysctl keys become files under the container's /proc/sys, dots turned into slashes."""
    sysctl_file = bundle / "rootfs" / "proc" / "sys" / "net" / "ipv4" / "ip_forward"
    sysctl_file.parent.mkdir(parents=True)
    sysctl_file.write_text("0")
    plan_and_apply(edited({"linux.sysctl": {"net.ipv4.ip_forward": "1"}}), bundle)
    assert sysctl_file.read_text() == "1"


def test_missing_sysctl_is_an_error_naming_the_json_path(bundle):
    """A sysctl the kernel does not have is an error naming linux.sysctl["key"], not a new file."""
    with pytest.raises(ContainerError, match=r'linux\.sysctl\["net\.no\.such"\]: No such file'):
        plan_and_apply(edited({"linux.sysctl": {"net.no.such": "1"}}), bundle)


def test_failed_mount_names_the_spec_mount_and_the_syscall(bundle):
    """A mount the kernel refuses is reported with the spec mount and the SyscallError's call and errno."""
    rootfs = str(bundle / "rootfs")
    fake = RecordingSyscalls()
    fake.fail("mount", 1, when=lambda arguments: arguments[2] == "devpts")
    with pytest.raises(ContainerError, match=r"mounts\[2\] \(/dev/pts\): mount\('devpts'.*EPERM"):
        apply_rootfs_plan(plan_rootfs(load_spec(runc_config()), rootfs, str(bundle)), fake, rootfs)
    assert "pivot_root" not in fake.names()


def test_plan_is_pure_and_ends_with_the_pivot(bundle):
    """Planning touches nothing: the same spec gives equal plans, and the pivot comes after every mount."""
    spec = load_spec(edited({"linux.rootfsPropagation": "rslave"}))
    first = plan_rootfs(spec, "/nonexistent/rootfs", "/nonexistent")
    assert first == plan_rootfs(spec, "/nonexistent/rootfs", "/nonexistent")
    kinds = [type(step) for step in first]
    assert kinds[-2] is PivotRoot and first[-1] == MountStep("linux.rootfsPropagation", "/",
                                                             flags=c.MS_SLAVE | c.MS_REC, in_rootfs=False)
    assert MaskPath in kinds and ReadonlyPath in kinds and Symlink in kinds


def test_mount_options_split_into_flags_propagation_and_data():
    """Known words become flags (and `rw`-style words clear them), propagation is separate, the rest is data."""
    options = parse_mount_options(("nosuid", "ro", "rw", "rbind", "rslave", "mode=755", "newinstance"), "mounts[0]")
    assert options.flags == c.MS_NOSUID | c.MS_BIND | c.MS_REC
    assert options.propagation == (c.MS_SLAVE | c.MS_REC,) and options.data == "mode=755,newinstance"
    assert options.is_recursive_bind


def test_unsupported_recursive_option_names_its_json_path():
    """A recursive mount_setattr option such as `rro` is refused with the path of the option."""
    with pytest.raises(SpecError, match=r"mounts\[4\]\.options\[1\]: .*\"rro\""):
        parse_mount_options(("nosuid", "rro"), "mounts[4]")


def test_bind_mount_without_source_is_a_spec_error(bundle):
    """A bind mount must name its source; the error names mounts[N].source."""
    with pytest.raises(SpecError, match=r"mounts\[0\]\.source"):
        plan_rootfs(load_spec(edited({"mounts": [{"destination": "/x", "type": "bind"}]})), "/r", "/b")
