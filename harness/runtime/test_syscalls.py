"""Tests of the syscall seam: the recording fake, and readable SyscallErrors from real calls that fail without root."""

import errno
import os
import pickle
import signal
import socket
import stat

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import SpecError, SyscallError
from harness.runtime.recording_syscalls import FAKE_CHILD_PID, RecordingSyscalls
from harness.runtime.syscalls import CapabilitySets, CloneResult, Flags, StatFs, Syscalls


def test_fake_records_calls_in_order_with_plain_comparable_arguments():
    """Each call is recorded as (name, arguments); flag arguments compare equal to the plain ints passed."""
    fake = RecordingSyscalls()
    fake.unshare(c.CLONE_NEWNS | c.CLONE_NEWUTS)
    fake.mount(None, "/", None, c.MS_REC | c.MS_PRIVATE)
    fake.mount("proc", "/proc", "proc", c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC)
    fake.pivot_root(".", ".")
    fake.umount2(".", c.MNT_DETACH)
    fake.sethostname("runc")
    assert fake.calls == [
        ("unshare", (c.CLONE_NEWNS | c.CLONE_NEWUTS,)),
        ("mount", (None, "/", None, c.MS_REC | c.MS_PRIVATE, None)),
        ("mount", ("proc", "/proc", "proc", c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC, None)),
        ("pivot_root", (".", ".")),
        ("umount2", (".", c.MNT_DETACH)),
        ("sethostname", ("runc",)),
    ]
    assert fake.names() == ["unshare", "mount", "mount", "pivot_root", "umount2", "sethostname"]
    assert repr(fake.arguments_of("mount")[0][3]) == "MS_REC|MS_PRIVATE"


def test_fake_never_reaches_the_kernel():
    """Calls that would fail or change the host succeed silently on the fake and leave the host alone."""
    fake = RecordingSyscalls()
    hostname = socket.gethostname()
    fake.umount2("/definitely/not/a/mount")
    fake.setns(999999, c.CLONE_NEWNET)
    fake.sethostname("changed-by-a-fake")
    assert socket.gethostname() == hostname
    assert len(fake.calls) == 3


def test_fake_hands_out_distinct_fake_descriptors():
    """open, openat2, open_tree, pidfd_open and clone3 with CLONE_PIDFD return distinct fake fds; path_of tells
    what an opened one was opened as."""
    fake = RecordingSyscalls()
    fds = [fake.open("/proc/1/ns/net", os.O_RDONLY), fake.open_tree(c.AT_FDCWD, "/src", c.OPEN_TREE_CLONE),
           fake.pidfd_open(1), fake.clone3(c.CLONE_PIDFD).pidfd,
           fake.openat2(1000, "proc", os.O_PATH, resolve=c.RESOLVE_IN_ROOT)]
    assert len(set(fds)) == 5 and min(fds) >= 1000
    assert (fake.path_of(fds[0]), fake.path_of(fds[1]), fake.path_of(fds[4]), fake.path_of(fds[2])) == (
        "/proc/1/ns/net", "/src", "proc", None)


def test_fake_file_queries_have_harmless_defaults():
    """The fake's fstat reports the null device, fstatfs type 0 without flags, write the whole buffer."""
    fake = RecordingSyscalls()
    found = fake.fstat(1000)
    assert stat.S_ISCHR(found.st_mode) and found.st_rdev == os.makedev(1, 3)
    assert fake.fstatfs(1000) == StatFs(type=0, flags=0) and fake.write(1000, b"abc") == 3
    assert repr(fake.arguments_of("write")[0]) == "(1000, b'abc')"


def test_fake_clone3_defaults_to_the_parent_side():
    """clone3 on the fake returns a parent-side result unless the test asks for the child."""
    fake = RecordingSyscalls()
    assert fake.clone3(c.CLONE_NEWPID) == CloneResult(pid=FAKE_CHILD_PID)
    fake.set_result("clone3", CloneResult(pid=0))
    assert fake.clone3(c.CLONE_NEWPID).in_child
    assert fake.arguments_of("clone3")[0] == (c.CLONE_NEWPID, signal.SIGCHLD, None)


def test_fake_results_are_configurable_as_values_or_functions():
    """set_result takes a value, or a function of the arguments tuple; the constructor takes the same."""
    fake = RecordingSyscalls(results={"prctl": 1})
    fake.set_result("capget", CapabilitySets(effective=1, permitted=3, inheritable=0))
    fake.set_result("open", lambda arguments: 7 if arguments[0] == "/a" else 8)
    assert fake.prctl(c.PR_GET_NO_NEW_PRIVS) == 1
    assert fake.capget().permitted == 3
    assert (fake.open("/a", os.O_RDONLY), fake.open("/b", os.O_RDONLY)) == (7, 8)


def test_fake_fails_matching_calls_with_a_readable_syscall_error():
    """fail() makes matching calls raise SyscallError; the failed call is still recorded, others still succeed."""
    fake = RecordingSyscalls()
    fake.fail("mount", errno.EPERM, when=lambda arguments: arguments[1] == "/sys")
    fake.mount("proc", "/proc", "proc")
    with pytest.raises(SyscallError) as caught:
        fake.mount("sysfs", "/sys", "sysfs", c.MS_RDONLY)
    assert caught.value.errno == errno.EPERM
    assert str(caught.value) == ("mount('sysfs', '/sys', 'sysfs', MS_RDONLY, None) failed: "
                                 "EPERM (Operation not permitted)")
    assert fake.names() == ["mount", "mount"]


def test_fake_refuses_to_configure_an_unknown_syscall():
    """A typo in a configured syscall name is an error, not a silently unused setting."""
    fake = RecordingSyscalls()
    with pytest.raises(ValueError, match="mount_set_attr"):
        fake.fail("mount_set_attr", errno.EINVAL)
    with pytest.raises(ValueError, match="_invoke"):
        fake.set_result("_invoke", None)


def test_umount2_of_a_non_mount_names_call_arguments_and_errno(tmp_path):
    """umount2 on a plain directory fails (EINVAL as root, EPERM otherwise) with a message naming all of it."""
    with pytest.raises(SyscallError) as caught:
        Syscalls().umount2(str(tmp_path), c.MNT_DETACH)
    assert caught.value.errno in (errno.EINVAL, errno.EPERM)
    assert caught.value.syscall == "umount2"
    assert str(caught.value).startswith(f"umount2({str(tmp_path)!r}, MNT_DETACH) failed: E")
    assert os.strerror(caught.value.errno) in str(caught.value)


def test_setns_on_a_bad_fd_raises_ebadf():
    """setns on a closed descriptor fails with EBADF, and the message shows the namespace flag by name."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(SyscallError) as caught:
        Syscalls().setns(read_end, c.CLONE_NEWNET)
    assert caught.value.errno == errno.EBADF
    assert str(caught.value) == f"setns({read_end}, CLONE_NEWNET) failed: EBADF (Bad file descriptor)"


def test_raw_syscalls_report_their_own_name():
    """Calls made through raw syscall numbers (pivot_root, open_tree, mount_setattr) name themselves on failure."""
    syscalls = Syscalls()
    missing = "/nonexistent/harness-test"
    calls = [
        lambda: syscalls.pivot_root(missing, missing + "/old"),
        lambda: syscalls.open_tree(c.AT_FDCWD, missing, c.OPEN_TREE_CLONE),
        lambda: syscalls.mount_setattr(c.AT_FDCWD, missing, attr_set=c.MOUNT_ATTR_RDONLY),
        lambda: syscalls.move_mount(c.AT_FDCWD, missing, c.AT_FDCWD, missing),
    ]
    for call, name in zip(calls, ["pivot_root", "open_tree", "mount_setattr", "move_mount"]):
        with pytest.raises(SyscallError) as caught:
            call()
        assert caught.value.syscall == name
        # ENOENT where the call exists, EPERM without privilege, ENOSYS on kernels that predate it.
        assert caught.value.errno in (errno.ENOENT, errno.EPERM, errno.ENOSYS)
        assert str(caught.value).startswith(f"{name}(")
    assert "AT_FDCWD" in str(caught.value)


def test_unknown_architecture_gives_enosys_without_calling():
    """A raw syscall with no number for this architecture fails like a missing syscall, not with a wrong call."""
    with pytest.raises(SyscallError) as caught:
        Syscalls(machine="sparc64").pivot_root("/a", "/b")
    assert caught.value.errno == errno.ENOSYS


def test_open_failure_is_a_syscall_error():
    """The seam's open wraps OSError into SyscallError, still catchable as OSError."""
    with pytest.raises(OSError) as caught:
        Syscalls().open("/nonexistent/harness-test", os.O_RDONLY | os.O_CLOEXEC)
    assert isinstance(caught.value, SyscallError)
    assert caught.value.errno == errno.ENOENT
    assert "O_CLOEXEC" in str(caught.value) and "0o777" in str(caught.value)


def test_openat2_in_root_reads_an_absolute_symlink_inside_the_root(tmp_path):
    """openat2 with RESOLVE_IN_ROOT (Linux 5.6) resolves an absolute symlink relative to the dirfd: through
    /link -> /inside it opens <dir>/inside/file, not the host's /inside/file."""
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "file").write_text("in root")
    os.symlink("/inside", tmp_path / "link")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _openat2_or_skip(root, "link/file", os.O_RDONLY | os.O_CLOEXEC, c.RESOLVE_IN_ROOT)
        with os.fdopen(fd) as opened:
            assert opened.read() == "in root"
    finally:
        os.close(root)


def test_openat2_failure_names_flags_and_resolve_by_name(tmp_path):
    """RESOLVE_NO_SYMLINKS refuses a symlink on the way (ELOOP); the SyscallError prints the open flags and the
    resolve flags by name."""
    (tmp_path / "inside").mkdir()
    os.symlink("inside", tmp_path / "link")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _openat2_or_skip(root, ".", os.O_PATH | os.O_CLOEXEC, 0, close=True)
        with pytest.raises(SyscallError) as caught:
            Syscalls().openat2(root, "link", os.O_PATH | os.O_CLOEXEC,
                               resolve=c.RESOLVE_NO_SYMLINKS | c.RESOLVE_BENEATH)
    finally:
        os.close(root)
    assert caught.value.errno == errno.ELOOP
    assert str(caught.value) == (f"openat2({root}, 'link', O_CLOEXEC|O_PATH, 0o0, RESOLVE_NO_SYMLINKS|"
                                 "RESOLVE_BENEATH) failed: ELOOP (Too many levels of symbolic links)")


def test_fstat_and_fstatfs_describe_an_o_path_descriptor():
    """fstat and fstatfs work on O_PATH descriptors: /dev/null is character device 1:3, /proc/self is procfs."""
    syscalls = Syscalls()
    null = syscalls.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    proc = syscalls.open("/proc/self", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        found = syscalls.fstat(null)
        assert stat.S_ISCHR(found.st_mode) and found.st_rdev == os.makedev(1, 3)
        assert syscalls.fstatfs(proc).type == c.PROC_SUPER_MAGIC
        assert syscalls.fstatfs(proc).flags & os.ST_NOSUID == os.statvfs("/proc").f_flag & os.ST_NOSUID
    finally:
        syscalls.close(null)
        syscalls.close(proc)


def _openat2_or_skip(dirfd: int, path: str, flags: int, resolve: int, close: bool = False) -> int:
    try:
        fd = Syscalls().openat2(dirfd, path, flags, resolve=resolve)
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            pytest.skip("openat2 needs Linux 5.6")
        raise
    if close:
        os.close(fd)
    return fd


def test_unprivileged_queries_succeed():
    """capget and prctl(PR_GET_NO_NEW_PRIVS) work for any user and return sane values."""
    syscalls = Syscalls()
    sets = syscalls.capget()
    assert sets.effective & ~sets.permitted == 0  # the kernel keeps effective within permitted
    assert syscalls.prctl(c.PR_GET_NO_NEW_PRIVS) in (0, 1)


def test_pidfd_open_and_signal_zero_on_own_process():
    """pidfd_open on our own pid gives a descriptor that pidfd_send_signal(0) accepts (Linux 5.3+)."""
    syscalls = Syscalls()
    try:
        pidfd = syscalls.pidfd_open(os.getpid())
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            pytest.skip("pidfd_open needs Linux 5.3")
        raise
    try:
        syscalls.pidfd_send_signal(pidfd, 0)
    finally:
        syscalls.close(pidfd)
    assert pidfd >= 0


def test_clone3_forks_a_child_whose_exit_status_reaches_the_parent():
    """clone3 without namespace flags behaves like fork: the child runs Python and its exit status is seen."""
    syscalls = Syscalls()
    try:
        result = syscalls.clone3(c.CLONE_PIDFD)
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            pytest.skip("clone3 needs Linux 5.3")
        raise
    if result.in_child:
        os._exit(7)
    os.close(result.pidfd)
    _, status = os.waitpid(result.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 7


def test_clone3_refuses_flags_python_cannot_survive():
    """Sharing memory or stack with the Python parent is refused before any syscall."""
    fake = RecordingSyscalls()
    with pytest.raises(ValueError, match="CLONE_VM"):
        fake.clone3(c.CLONE_VM)
    assert fake.calls == []


def test_clone3_bad_exit_signal_is_einval():
    """An exit signal beyond the last signal number makes clone3 fail with EINVAL, named in the message."""
    with pytest.raises(SyscallError) as caught:
        Syscalls().clone3(exit_signal=999)
    assert caught.value.errno in (errno.EINVAL, errno.ENOSYS)
    assert str(caught.value).startswith("clone3(0, 999, None) failed")


def test_syscall_error_pickles_and_keeps_its_fields():
    """A SyscallError survives pickling (it may cross a process boundary) with name, arguments and errno."""
    error = SyscallError("mount", ("proc", "/proc", "proc", Flags(c.MS_NOSUID | 0x80000000, c.MOUNT_FLAG_NAMES), None),
                         errno.EPERM)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.syscall, copy.arguments, copy.errno) == ("mount", error.arguments, errno.EPERM)
    assert str(copy) == str(error) == ("mount('proc', '/proc', 'proc', MS_NOSUID|0x80000000, None) failed: "
                                       "EPERM (Operation not permitted)")


def test_flags_print_zero_and_unknown_bits():
    """Flags with no bits print as 0, bits without a name as hex."""
    assert repr(Flags(0, c.CLONE_FLAG_NAMES)) == "0"
    assert repr(Flags(1, c.CLONE_FLAG_NAMES)) == "0x1"
    assert repr(Flags(c.CLONE_NEWUSER | c.CLONE_NEWNS, c.CLONE_FLAG_NAMES)) == "CLONE_NEWNS|CLONE_NEWUSER"


def test_spec_error_pickles_and_names_its_path():
    """SpecError is a ValueError carrying path and message, and survives pickling."""
    error = pickle.loads(pickle.dumps(SpecError("process.rlimits[1].type", "unknown rlimit")))
    assert isinstance(error, ValueError)
    assert (error.path, error.message) == ("process.rlimits[1].type", "unknown rlimit")
    assert str(error) == "process.rlimits[1].type: unknown rlimit"
