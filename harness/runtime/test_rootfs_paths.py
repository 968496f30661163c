"""Tests of the mount plan's steps on paths the spec names: masked and read-only paths, the read-only root, sysctl
files (the recording fake, on a scratch rootfs holding the runc spec's masked and read-only paths)."""

import errno
import os
import stat

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError
from harness.runtime.recording_syscalls import NULL_DEVICE_STAT, RecordingSyscalls, fake_stat
from harness.runtime.syscalls import StatFs
from harness.runtime.test_rootfs import DIRECTORY_STAT, IN_ROOT, ROOTFS_FD, fd_of, fds_opened_as, mounts, \
    mounts_onto, opened, plan_and_apply, scratch_bundle
from harness.runtime.test_spec import edited, runc_config


@pytest.fixture
def bundle(tmp_path):
    """A scratch bundle whose rootfs holds the runc spec's masked and read-only paths."""
    return scratch_bundle(tmp_path)


def test_masked_paths_bind_null_over_files_and_ro_tmpfs_over_dirs(bundle):
    """maskedPaths: the null device over a file, an empty read-only tmpfs over a directory, nothing for a missing
    one; the file is bound from the container's own /dev/null, opened O_PATH|O_NOFOLLOW and checked to be 1:3."""
    fake = RecordingSyscalls()
    fake.set_result("fstat", lambda arguments: DIRECTORY_STAT if fake.path_of(arguments[0]) == "proc/acpi"
                    else NULL_DEVICE_STAT)
    fake.fail("openat2", errno.ENOENT, when=lambda arguments: arguments[1] == "proc/keys")
    plan_and_apply(runc_config(), bundle, fake)
    assert mounts_onto(fake, "fd:proc/kcore") == [("fd:dev/null", "fd:proc/kcore", None, c.MS_BIND, None)]
    assert mounts_onto(fake, "fd:proc/acpi") == [("tmpfs", "fd:proc/acpi", "tmpfs", c.MS_RDONLY, None)]
    assert mounts_onto(fake, "fd:proc/keys") == []
    assert (ROOTFS_FD, "dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, 0, IN_ROOT) in fake.arguments_of("openat2")


@pytest.mark.parametrize("host_is_null", [True, False], ids=["host-null", "no-null-at-all"])
def test_mask_source_that_is_not_the_null_device_is_refused(bundle, host_is_null):
    """A container /dev/null that is character device 1:1 (/dev/mem) is not bound over a masked file: the host's
    /dev/null is, after the same check; if that is no null device either, the error names the masked path."""
    fake = RecordingSyscalls()
    mem = fake_stat(stat.S_IFCHR | 0o666, os.makedev(1, 1))
    fake.set_result("fstat", lambda arguments: NULL_DEVICE_STAT
                    if host_is_null and fake.path_of(arguments[0]) == "/dev/null" else mem)
    if not host_is_null:
        with pytest.raises(ContainerError, match=r"linux\.maskedPaths\[0\] \(/proc/acpi\): no null device .*"
                           r"container's /dev/null is not the null device \(mode crw-rw-rw-, device 1:1\)"):
            plan_and_apply(runc_config(), bundle, fake)
        assert "pivot_root" not in fake.names()
        return
    plan_and_apply(runc_config(), bundle, fake)
    assert mounts_onto(fake, "fd:proc/kcore") == [("fd:/dev/null", "fd:proc/kcore", None, c.MS_BIND, None)]
    assert ("open", ("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, 0o777)) in fake.calls
    container_null = fds_opened_as(fake, "dev/null")
    assert container_null and all(("close", (fd,)) in fake.calls for fd in container_null)


def test_readonly_paths_are_bound_and_remounted_read_only(bundle):
    """readonlyPaths: the path bound onto itself, then remounted with MS_RDONLY through a descriptor opened after
    the bind (before pivot_root)."""
    fake, _ = plan_and_apply(runc_config(), bundle)
    bind, remount = mounts_onto(fake, "fd:proc/sys")
    assert bind == ("fd:proc/sys", "fd:proc/sys", None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    raw = [arguments for arguments in fake.arguments_of("mount") if opened(fake, arguments[1]) == "fd:proc/sys"]
    assert raw[0][0] == raw[0][1] and fd_of(fake, raw[0][1]) < fd_of(fake, raw[1][1])
    assert fake.names().index("pivot_root") > max(index for index, (name, arguments) in enumerate(fake.calls)
                                                  if name == "mount" and arguments == raw[1])


def test_read_only_root_is_remounted_just_before_the_pivot(bundle):
    """root.readonly remounts the rootfs bind (a host path) read-only as the last mount before pivot_root."""
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    last_mount = fake.calls[-6]
    assert last_mount[0] == "mount" and last_mount[1][1] == rootfs
    assert last_mount[1][3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY


def test_sysctl_is_written_through_an_fd_checked_to_be_on_procfs(bundle):
    """linux.sysctl keys become files under the container's /proc/sys (dots turned into slashes), opened with
    openat2(O_WRONLY, RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) and written once fstatfs
    says they are on procfs."""
    fake = RecordingSyscalls(results={"fstatfs": StatFs(type=c.PROC_SUPER_MAGIC, flags=0)})
    plan_and_apply(edited({"linux.sysctl": {"net.ipv4.ip_forward": "1"}}), bundle, fake)
    path = "proc/sys/net/ipv4/ip_forward"
    (opening,), (fd,) = [arguments for arguments in fake.arguments_of("openat2") if arguments[1] == path], \
        fds_opened_as(fake, path)
    assert opening == (ROOTFS_FD, "proc/sys/net/ipv4/ip_forward", os.O_WRONLY | os.O_CLOEXEC, 0,
                       c.RESOLVE_IN_ROOT | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS)
    start = fake.calls.index(("fstatfs", (fd,)))
    assert fake.calls[start + 1:start + 3] == [("write", (fd, b"1")), ("close", (fd,))]


def test_sysctl_not_on_procfs_is_refused_naming_the_json_path(bundle):
    """A rootfs that puts another filesystem at /proc/sys gets no write: the error names linux.sysctl["key"]."""
    fake = RecordingSyscalls(results={"fstatfs": StatFs(type=0xEF53, flags=0)})
    with pytest.raises(ContainerError, match=r'linux\.sysctl\["net\.ipv4\.ip_forward"\]: /proc/sys/net/ipv4/'
                       r"ip_forward is not on procfs \(filesystem type 0xef53"):
        plan_and_apply(edited({"linux.sysctl": {"net.ipv4.ip_forward": "1"}}), bundle, fake)
    assert "write" not in fake.names() and fake.names()[-2:] == ["close", "close"]


def test_missing_sysctl_is_an_error_naming_the_json_path(bundle):
    """A sysctl the kernel does not have is an error naming linux.sysctl["key"] and the failed openat2."""
    fake = RecordingSyscalls()
    fake.fail("openat2", errno.ENOENT, when=lambda arguments: arguments[1] == "proc/sys/net/no/such")
    with pytest.raises(ContainerError, match=r'linux\.sysctl\["net\.no\.such"\]: openat2\(1000, '
                       r"'proc/sys/net/no/such', O_WRONLY\|O_CLOEXEC, 0o0, RESOLVE_NO_MAGICLINKS\|"
                       r"RESOLVE_NO_SYMLINKS\|RESOLVE_IN_ROOT\) failed: ENOENT"):
        plan_and_apply(edited({"linux.sysctl": {"net.no.such": "1"}}), bundle, fake)


def test_absent_masked_and_readonly_paths_are_skipped_without_a_lookup(bundle):
    """A masked or read-only path that the rootfs (or the kernel's procfs) does not have is skipped after the
    pre-check, as runc skips it: no openat2 for it, no mount."""
    config = edited({"linux.maskedPaths": ["/proc/absent-file"], "linux.readonlyPaths": ["/proc/absent-dir"]})
    fake, _ = plan_and_apply(config, bundle)
    looked_up = {arguments[1] for arguments in fake.arguments_of("openat2")}
    assert not looked_up & {"proc/absent-file", "proc/absent-dir"}
    assert not [arguments for arguments in mounts(fake) if str(arguments[1]).startswith("fd:proc/absent")]
    assert mounts_onto(fake, "fd:proc/kcore") == []  # the runc masks were replaced, not added to


def test_read_only_root_keeps_locked_flags_only_when_the_kernel_insists(bundle, monkeypatch):
    """The read-only remount of the rootfs is tried as asked (runc's setReadonly: a privileged remount clears the
    host mount's nosuid/nodev), and again with the host mount's nosuid/nodev/noexec only after an EPERM."""
    monkeypatch.setattr("harness.runtime.rootfs.locked_flags", lambda path: c.MS_NOSUID | c.MS_NODEV)
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    (remount,) = [arguments for arguments in fake.arguments_of("mount") if arguments[1] == rootfs
                  and arguments[3] & c.MS_REMOUNT]
    assert remount[3] == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    fake = RecordingSyscalls()
    fake.fail("mount", errno.EPERM, when=lambda arguments: arguments[1] == rootfs and arguments[3] & c.MS_REMOUNT
              and not arguments[3] & c.MS_NOSUID)
    plan_and_apply(runc_config(), bundle, fake)
    refused, kept = [arguments for arguments in fake.arguments_of("mount") if arguments[1] == rootfs
                     and arguments[3] & c.MS_REMOUNT]
    assert kept[3] == refused[3] | c.MS_NOSUID | c.MS_NODEV
