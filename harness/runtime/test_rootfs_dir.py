"""Tests of rootfs_dir and the mount plan on a real scratch rootfs: real openat2 and *at calls, recorded mounts."""

import errno
import os
from collections.abc import Callable

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError, SyscallError
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.rootfs import apply_rootfs_plan
from harness.runtime.rootfs_dir import RootDir
from harness.runtime.rootfs_plan import plan_rootfs
from harness.runtime.spec import load_spec
from harness.runtime.syscalls import Syscalls
from harness.runtime.test_spec import edited

MAGIC_LINK = "/proc/self/fd/"


class ScratchSyscalls(RecordingSyscalls):
    """Records every call; runs the file calls for real (on a scratch rootfs) and fakes the rest (mount, mknod,
    pivot_root). For each mount it notes where a /proc/self/fd/N source or target led at the time of the call."""

    REAL = {"open", "openat", "openat2", "mkdirat", "symlinkat", "unlinkat", "fstat", "fstatfs", "write", "close"}

    def __init__(self, before: Callable[[str, tuple], None] | None = None) -> None:
        super().__init__()
        self.before = before or (lambda name, arguments: None)
        self.real = set(self.REAL)
        self.mounted: list[tuple] = []

    def _invoke(self, name: str, arguments: tuple, call: Callable[[], object]) -> object:
        self.before(name, arguments)
        if name not in self.real:
            if name == "mount":
                self.mounted.append(tuple(_followed(argument) for argument in arguments[:2]))
            return super()._invoke(name, arguments, call)
        self.calls.append((name, arguments))
        return call()


def swap_once(directory, host) -> Callable[[str, tuple], None]:
    """A `before` hook: at the first lookup of vol/x (the first call after the pre-check), `directory` is renamed
    away and replaced by an absolute symlink to `host`."""
    pending = [True]

    def swap(name: str, arguments: tuple) -> None:
        if pending and name == "openat2" and arguments[1] == "vol/x":
            pending.clear()
            os.rename(directory, f"{directory}.old")
            os.symlink(str(host), directory)
    return swap


def _followed(path: object) -> object:
    return os.readlink(path) if isinstance(path, str) and path.startswith(MAGIC_LINK) else path


@pytest.fixture
def openat2():
    """Skip where the kernel has no openat2 (Linux < 5.6)."""
    try:
        os.close(Syscalls().openat2(c.AT_FDCWD, "/", os.O_PATH | os.O_CLOEXEC))
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            pytest.skip("openat2 needs Linux 5.6")
        raise


@pytest.fixture
def scratch(tmp_path):
    """A bundle with an empty rootfs/, and a `host` directory beside it standing for the host's filesystem."""
    root = tmp_path.resolve()
    (root / "rootfs").mkdir()
    (root / "host").mkdir()
    return root


def apply(config: dict, bundle, syscalls: ScratchSyscalls) -> str:
    rootfs = str(bundle / "rootfs")
    apply_rootfs_plan(plan_rootfs(load_spec(config), rootfs, str(bundle)), syscalls, rootfs)
    return rootfs


def tmpfs_at(destination: str) -> dict:
    """runc's config with a single mount: a tmpfs at `destination`."""
    return edited({"mounts": [{"destination": destination, "type": "tmpfs", "source": "tmpfs"}]})


def test_mount_point_behind_an_absolute_symlink_is_made_in_the_root(scratch, openat2):
    """A destination behind an absolute symlink to a host directory (/evil -> /tmp/.../host) resolves inside the
    rootfs, and the mount point is made there, component by component; the host directory stays empty."""
    host = scratch / "host"
    os.symlink(str(host), scratch / "rootfs" / "evil")
    root = RootDir(Syscalls(), str(scratch / "rootfs"))
    try:
        relative = root.resolve("/evil/x/file", "mounts[0] (/evil/x/file)")
        root.make_file(relative)
    finally:
        root.close()
    assert relative == f"{str(host).lstrip('/')}/x/file"
    assert os.listdir(host) == []
    assert os.path.isfile(f"{scratch}/rootfs{host}/x/file")


def test_dangling_symlink_is_not_created_through(scratch, openat2):
    """make_dirs does not make the target of a symlink that leads nowhere (yet) inside the rootfs: the walk stops
    with ENOENT, as a symlink swapped in after the pre-check would make it."""
    host = scratch / "host"
    os.symlink(str(host), scratch / "rootfs" / "evil")
    root = RootDir(Syscalls(), str(scratch / "rootfs"))
    try:
        with pytest.raises(SyscallError, match=r"openat2\(\d+, 'evil', .*ENOENT"):
            root.make_dirs("evil/x")
    finally:
        root.close()
    assert os.listdir(host) == [] and os.listdir(scratch / "rootfs") == ["evil"]


def test_symlink_swapped_in_after_the_pre_check_cannot_lead_the_mount_out(scratch, openat2):
    """The CVE-2021-30465 race, made deterministic: once the destination passed the userspace check, /vol is
    swapped for an absolute symlink to a host directory. The mount point is still made, and the mount still aimed,
    inside the rootfs; the host directory gets nothing."""
    host = scratch / "host"
    rootfs = scratch / "rootfs"
    (rootfs / "vol").mkdir()
    (rootfs / str(host).lstrip("/")).mkdir(parents=True)  # where the symlink leads inside the rootfs

    syscalls = ScratchSyscalls(before=swap_once(rootfs / "vol", host))
    apply(tmpfs_at("/vol/x"), scratch, syscalls)
    assert os.listdir(host) == []
    assert syscalls.mounted[2] == ("tmpfs", f"{rootfs}{host}/x")


def test_string_fallback_is_what_the_race_defeats(scratch):
    """Without openat2 (ENOSYS) the same swap redirects the mount point to the host: what the fix is for, and why
    the fallback is kept only for kernels older than 5.6."""
    host = scratch / "host"
    rootfs = scratch / "rootfs"
    (rootfs / "vol").mkdir()

    syscalls = ScratchSyscalls(before=swap_once(rootfs / "vol", host))
    syscalls.real.remove("openat2")
    syscalls.fail("openat2", errno.ENOSYS)
    apply(tmpfs_at("/vol/x"), scratch, syscalls)
    assert os.listdir(host) == ["x"]
    assert syscalls.mounted[2] == ("tmpfs", f"{rootfs}/vol/x")


def test_file_mount_point_is_created_and_the_bind_aimed_at_it(scratch, openat2):
    """A file bind mount gets an empty file as its mount point (parents made as needed), and mount(2) is given
    /proc/self/fd/N leading to exactly that file."""
    (scratch / "hosts").write_text("127.0.0.1 localhost\n")
    config = edited({"mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "hosts"}]})
    syscalls = ScratchSyscalls()
    rootfs = apply(config, scratch, syscalls)
    assert os.path.isfile(f"{rootfs}/etc/hosts") and os.path.getsize(f"{rootfs}/etc/hosts") == 0
    assert syscalls.mounted[2] == (f"{scratch}/hosts", f"{rootfs}/etc/hosts")


def test_plan_leaves_no_descriptor_open(scratch, openat2):
    """Every descriptor that runc's default plan opens for real (targets, parents, null devices, the rootfs) is
    closed by the end."""
    before = set(os.listdir(MAGIC_LINK))
    apply(edited({}), scratch, ScratchSyscalls())
    assert set(os.listdir(MAGIC_LINK)) == before


def test_masked_file_with_a_regular_dev_null_is_bound_from_the_hosts(scratch, openat2):
    """A rootfs whose /dev/null is a regular file (it could hold anything) gets the host's null device bound over
    its masked files, checked through the very descriptor the bind uses."""
    rootfs = scratch / "rootfs"
    (rootfs / "dev").mkdir()
    (rootfs / "dev" / "null").write_text("not the null device")
    (rootfs / "proc").mkdir()
    (rootfs / "proc" / "kcore").write_text("")
    syscalls = ScratchSyscalls()
    apply(edited({"mounts": [], "linux.maskedPaths": ["/proc/kcore"], "linux.readonlyPaths": []}), scratch,
          syscalls)
    assert ("/dev/null", f"{rootfs}/proc/kcore") in syscalls.mounted


def test_sysctl_on_a_file_that_is_not_procfs_is_not_written(scratch, openat2):
    """A rootfs with a plain file at /proc/sys/...: fstatfs says it is not procfs, so it keeps its content and the
    error names linux.sysctl["key"]."""
    sysctl_file = scratch / "rootfs" / "proc" / "sys" / "net" / "ipv4" / "ip_forward"
    sysctl_file.parent.mkdir(parents=True)
    sysctl_file.write_text("0")
    with pytest.raises(ContainerError, match=r'linux\.sysctl\["net\.ipv4\.ip_forward"\]: .* is not on procfs'):
        apply(edited({"mounts": [], "linux.sysctl": {"net.ipv4.ip_forward": "1"}}), scratch, ScratchSyscalls())
    assert sysctl_file.read_text() == "0"


def test_missing_sysctl_is_enoent_naming_the_json_path(scratch, openat2):
    """A sysctl the kernel does not have is an error naming linux.sysctl["key"], not a new file."""
    with pytest.raises(ContainerError, match=r'linux\.sysctl\["net\.no\.such"\]: openat2\(.*ENOENT'):
        apply(edited({"mounts": [], "linux.sysctl": {"net.no.such": "1"}}), scratch, ScratchSyscalls())
    assert not (scratch / "rootfs" / "proc" / "sys" / "net" / "no").exists()
