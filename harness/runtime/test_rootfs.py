"""Tests of the mount plan and its execution against the recording fake, on a scratch rootfs directory (no root)."""

import errno
import os
import stat

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.mount_options import parse_mount_options
from harness.runtime.mount_steps import MaskPath, MountStep, PivotRoot, ReadonlyPath, Symlink
from harness.runtime.recording_syscalls import RecordingSyscalls, fake_stat
from harness.runtime.rootfs import apply_rootfs_plan
from harness.runtime.rootfs_plan import plan_rootfs
from harness.runtime.securejoin import resolve_in_root
from harness.runtime.spec import load_spec
from harness.runtime.test_spec import edited, runc_config

PIVOT_CALLS = ["chdir", "pivot_root", "umount2", "chdir"]
IN_ROOT = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS
ROOTFS_FD = 1000  # the fake's first descriptor: the rootfs, opened O_PATH before the first container path
DIRECTORY_STAT = fake_stat(stat.S_IFDIR | 0o555)
MAGIC_LINK = "/proc/self/fd/"


def scratch_bundle(tmp_path):
    """A bundle directory with a rootfs/ (symlink-free, as the runtime would realpath it) that holds only the runc
    spec's masked and read-only paths, as directories: the plan skips those that do not exist, and the fake's fstat
    says what each one is."""
    root = tmp_path.resolve()
    (root / "rootfs").mkdir()
    linux = runc_config()["linux"]
    for path in linux["maskedPaths"] + linux["readonlyPaths"]:
        (root / "rootfs" / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def bundle(tmp_path):
    """scratch_bundle in the test's tmp_path."""
    return scratch_bundle(tmp_path)


def plan_and_apply(config: dict, bundle, fake: RecordingSyscalls | None = None) -> tuple[RecordingSyscalls, str]:
    """Plan the config's mounts and run the plan on the fake; returns the fake and the rootfs path."""
    rootfs = str(bundle / "rootfs")
    fake = fake or RecordingSyscalls()
    apply_rootfs_plan(plan_rootfs(load_spec(config), rootfs, str(bundle)), fake, rootfs)
    return fake, rootfs


def absent(*paths: str) -> RecordingSyscalls:
    """A fake whose first openat2 of each of `paths` (container paths, relative) fails with ENOENT, as for mount
    points the rootfs lacks until the plan makes them; the fake's openat2 otherwise finds everything."""
    fake = RecordingSyscalls()
    pending = set(paths)

    def first_lookup(arguments: tuple) -> bool:
        found = arguments[1] in pending
        pending.discard(arguments[1])
        return found
    fake.fail("openat2", errno.ENOENT, when=first_lookup)
    return fake


def opened(fake: RecordingSyscalls, path: object) -> object:
    """`fd:proc` for /proc/self/fd/N where the fake handed out N for "proc"; anything else unchanged."""
    if isinstance(path, str) and path.startswith(MAGIC_LINK):
        return f"fd:{fake.path_of(int(path[len(MAGIC_LINK):]))}"
    return path


def mounts(fake: RecordingSyscalls) -> list[tuple]:
    """The recorded mount calls, with source and target magic links shown as what their fd was opened as."""
    return [(opened(fake, source), opened(fake, target), *rest)
            for source, target, *rest in fake.arguments_of("mount")]


def mounts_onto(fake: RecordingSyscalls, target: str) -> list[tuple]:
    """The recorded mount calls whose target is `target` (`fd:dev/pts` for a container path)."""
    return [arguments for arguments in mounts(fake) if arguments[1] == target]


def fds_opened_as(fake: RecordingSyscalls, path: str) -> list[int]:
    """The fake descriptors handed out for `path`, in order."""
    return [fd for fd in range(ROOTFS_FD, 2000) if fake.path_of(fd) == path]


def fd_of(fake: RecordingSyscalls, target: str) -> int:
    """The descriptor number behind a recorded magic-link mount target."""
    assert target.startswith(MAGIC_LINK), target
    return int(target[len(MAGIC_LINK):])


def test_runc_default_spec_mounts_in_order_then_pivots(bundle):
    """runc's default config: private /, rootfs bind, proc, /dev tmpfs with data, devpts, shm, mqueue,
    sysfs read-only, cgroup2 for the `cgroup` entry, and pivot_root(".", ".") + detach as the last calls."""
    fake, rootfs = plan_and_apply(runc_config(), bundle)
    done = mounts(fake)
    assert done[0] == (None, "/", None, c.MS_REC | c.MS_PRIVATE, None)
    assert done[1] == (rootfs, rootfs, None, c.MS_BIND | c.MS_REC, None)
    assert done[2] == ("proc", "fd:proc", "proc", 0, None)
    assert done[3] == ("tmpfs", "fd:dev", "tmpfs", c.MS_NOSUID | c.MS_STRICTATIME, "mode=755,size=65536k")
    assert done[4] == ("devpts", "fd:dev/pts", "devpts", c.MS_NOSUID | c.MS_NOEXEC,
                       "newinstance,ptmxmode=0666,mode=0620,gid=5")
    assert done[7] == ("sysfs", "fd:sys", "sysfs", c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RDONLY, None)
    assert done[8][1:3] == ("fd:sys/fs/cgroup", "cgroup2")
    # The rootfs's descriptor is the first one opened, after the rootfs bind, and the last one closed.
    assert fake.calls[fake.names().index("open")] == ("open", (rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC,
                                                               0o777))
    assert fake.names().index("open") == 2 and fake.path_of(ROOTFS_FD) == rootfs
    assert fake.calls[-5:] == [("chdir", (rootfs,)), ("pivot_root", (".", ".")), ("umount2", (".", c.MNT_DETACH)),
                               ("chdir", ("/",)), ("close", (ROOTFS_FD,))]


def test_mount_target_is_opened_in_the_root_mounted_through_its_fd_then_closed(bundle):
    """A spec mount's destination is opened O_PATH with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) from the
    rootfs fd, mount(2) is pointed at /proc/self/fd/N of that fd, and the fd is closed right after."""
    config = edited({"mounts": [{"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs"}]})
    fake, _ = plan_and_apply(config, bundle, absent("mnt/x", "mnt"))
    # Looked up (missing), made, then opened: both lookups alike.
    missing, target_open = [arguments for arguments in fake.arguments_of("openat2") if arguments[1] == "mnt/x"]
    assert missing == target_open
    (target_fd,) = fds_opened_as(fake, "mnt/x")
    assert target_open == (ROOTFS_FD, "mnt/x", os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT)
    mount = ("mount", ("tmpfs", f"{MAGIC_LINK}{target_fd}", "tmpfs", 0, None))
    assert fake.calls.index(mount) + 1 == fake.calls.index(("close", (target_fd,)))
    # The missing mount point is made component by component, each parent opened in the root (and made first if
    # that open finds nothing).
    assert [(fake.path_of(dirfd) if dirfd != ROOTFS_FD else ".", name, mode)
            for dirfd, name, mode in fake.arguments_of("mkdirat")][:2] == [(".", "mnt", 0o755), ("mnt", "x", 0o755)]
    assert ("openat2", (ROOTFS_FD, "mnt", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)) in fake.calls


def test_every_descriptor_opened_is_closed(bundle):
    """The plan closes each descriptor it opens (targets, parents, null devices, the rootfs), exactly once."""
    fake, _ = plan_and_apply(runc_config(), bundle)
    handed_out = {fd for fd in range(ROOTFS_FD, 2000) if fake.path_of(fd) is not None}
    closed = [arguments[0] for arguments in fake.arguments_of("close")]
    assert len(handed_out) > 20 and sorted(closed) == sorted(handed_out)


def test_without_openat2_the_host_path_string_is_used(bundle):
    """On a kernel without openat2 (ENOSYS, Linux < 5.6) the plan falls back to host path strings, asking once."""
    fake = RecordingSyscalls()
    fake.fail("openat2", errno.ENOSYS)
    config = edited({"mounts": [{"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs"}]})
    _, rootfs = plan_and_apply(config, bundle, fake)
    assert len(fake.arguments_of("openat2")) == 1
    assert fake.arguments_of("mount")[2] == ("tmpfs", f"{rootfs}/mnt/x", "tmpfs", 0, None)
    assert ("open", (f"{rootfs}/mnt/x", os.O_PATH | os.O_CLOEXEC, 0)) in fake.calls


def test_openat2_eagain_is_retried(bundle):
    """openat2 answers EAGAIN when a rename or mount raced the lookup: the same call is made again."""
    fake = RecordingSyscalls()
    fake.fail("openat2", errno.EAGAIN, when=lambda arguments: arguments[1] == "proc"
              and len([called for called in fake.arguments_of("openat2") if called[1] == "proc"]) < 3)
    plan_and_apply(runc_config(), bundle, fake)
    assert mounts_onto(fake, "fd:proc") == [("proc", "fd:proc", "proc", 0, None)]
    assert [called[1] for called in fake.arguments_of("openat2")].count("proc") == 3


def test_minimal_dev_makes_nodes_and_symlinks(bundle):
    """/dev/null and friends are made with mknod (0666 character devices, as runc); ptmx, fd and stdio are
    symlinks."""
    fake, _ = plan_and_apply(runc_config(), bundle)
    nodes = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
    assert [(fake.path_of(dirfd), *rest) for dirfd, *rest in fake.arguments_of("mknodat")] == [
        ("dev", name, stat.S_IFCHR | 0o666, os.makedev(*numbers)) for name, numbers in nodes.items()]
    assert mounts_onto(fake, "fd:dev/null") == []
    links = {name: target for target, dirfd, name in fake.arguments_of("symlinkat") if fake.path_of(dirfd) == "dev"}
    assert links["ptmx"] == "pts/ptmx" and links["fd"] == "/proc/self/fd" and links["stderr"] == "/proc/self/fd/2"


def test_existing_symlink_is_kept_or_replaced_as_the_step_says(bundle):
    """An existing /dev/fd (EEXIST) stays, as runc tolerates; /dev/ptmx is unlinked and made anew."""
    fake = RecordingSyscalls()
    fake.fail("symlinkat", errno.EEXIST, when=lambda arguments: "unlinkat" not in fake.names())
    plan_and_apply(runc_config(), bundle, fake)
    assert [(fake.path_of(dirfd), name) for dirfd, name in fake.arguments_of("unlinkat")] == [("dev", "ptmx")]
    assert fake.names()[fake.names().index("unlinkat") + 1] == "symlinkat"


def test_user_namespace_binds_host_nodes_over_empty_files(bundle):
    """In a user namespace, where mknod is refused, the host's nodes are bound over empty files instead."""
    config = edited({"linux.namespaces[5]": {"type": "user"},
                     "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                     "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    fake, _ = plan_and_apply(config, bundle, absent(*(f"dev/{name}" for name in ("null", "zero", "full", "random",
                                                                                 "urandom", "tty"))))
    assert "mknodat" not in fake.names()
    created = [(fake.path_of(dirfd), name, flags, mode) for dirfd, name, flags, mode in fake.arguments_of("openat")]
    for name in ("null", "zero", "full", "random", "urandom"):
        assert mounts_onto(fake, f"fd:dev/{name}") == [(f"/dev/{name}", f"fd:dev/{name}", None, c.MS_BIND, None)]
        assert ("dev", name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644) in created


def test_refused_cgroup2_mount_binds_the_host_hierarchy(bundle):
    """A cgroup2 mount refused with EPERM (a user namespace without a cgroup namespace) becomes a recursive bind
    of the host's /sys/fs/cgroup, remounted read-only as the spec asks (runc does the same)."""
    fake = RecordingSyscalls()
    fake.fail("mount", errno.EPERM, when=lambda arguments: arguments[2] == "cgroup2")
    plan_and_apply(runc_config(), bundle, fake)
    refused, bind, remount = mounts_onto(fake, "fd:sys/fs/cgroup")
    assert refused[2] == "cgroup2"
    assert bind == ("/sys/fs/cgroup", "fd:sys/fs/cgroup", None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    # The remount goes through a descriptor opened after the bind: the first one holds the directory underneath.
    raw = [arguments for arguments in fake.arguments_of("mount") if opened(fake, arguments[1]) == "fd:sys/fs/cgroup"]
    assert fd_of(fake, raw[1][1]) < fd_of(fake, raw[2][1])


def test_bind_mount_of_host_dev_brings_no_devices(bundle):
    """A spec that binds the host's /dev gets no device binds of its own, as in runc."""
    config = edited({"mounts": [{"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]}]})
    fake, _ = plan_and_apply(config, bundle)
    assert mounts_onto(fake, "fd:dev") == [("/dev", "fd:dev", None, c.MS_BIND | c.MS_REC, None)]
    assert mounts_onto(fake, "fd:dev/null") == [] and "mknodat" not in fake.names()


def test_read_only_bind_mount_is_bound_then_remounted(bundle):
    """A bind mount with `ro` takes two calls: the bind (which ignores ro) and a read-only remount; a relative
    source is relative to the bundle, and the mount point is created like the source (a directory here)."""
    (bundle / "data").mkdir()
    config = edited({"mounts": [{"destination": "/mnt/data", "type": "bind", "source": "data",
                                 "options": ["rbind", "ro", "rprivate"]}]})
    fake, _ = plan_and_apply(config, bundle, absent("mnt/data"))
    bind, remount, propagation = mounts_onto(fake, "fd:mnt/data")
    assert bind == (f"{bundle}/data", "fd:mnt/data", None, c.MS_BIND | c.MS_REC, None)
    assert remount[3] & (c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY) == c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
    assert propagation == (None, "fd:mnt/data", None, c.MS_PRIVATE | c.MS_REC, None)
    assert ("mnt", "data") in [(fake.path_of(dirfd), name) for dirfd, name, _ in fake.arguments_of("mkdirat")]
    # Each of the three calls opened the destination anew (a remount needs the bind's root, not what it covers).
    targets = {arguments[1] for arguments in fake.arguments_of("mount") if opened(fake, arguments[1]) == "fd:mnt/data"}
    assert len(targets) == 3


def test_bind_mount_of_a_file_creates_a_file_mount_point(bundle):
    """Binding a file needs a file to mount over: the plan's executor creates an empty one."""
    (bundle / "hosts").write_text("127.0.0.1 localhost\n")
    config = edited({"mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "hosts"}]})
    fake, _ = plan_and_apply(config, bundle, absent("etc/hosts"))
    (dirfd, name, flags, mode), = fake.arguments_of("openat")
    assert (fake.path_of(dirfd), name, mode) == ("etc", "hosts", 0o644)
    assert flags & (os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW) == os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    assert mounts_onto(fake, "fd:etc/hosts") == [(f"{bundle}/hosts", "fd:etc/hosts", None, c.MS_BIND, None)]


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
