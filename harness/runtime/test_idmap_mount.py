"""Idmapped bind mounts: parsing of mounts[i].uidMappings/gidMappings, the plan run on the recording fake, and
the real user-namespace helper and mount natively (as root)."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.mount_steps import IdmappedBind, MountStep
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.rootfs_plan import plan_rootfs
from harness.runtime.spec import IdMapping, load_spec
from harness.runtime.test_spec import runc_config

MAP = [{"containerID": 0, "hostID": 1000, "size": 1}]
USERNS_FD = 77


@pytest.fixture
def bundle(tmp_path):
    """A bundle with an empty rootfs/ (symlink-free)."""
    (tmp_path / "rootfs").mkdir()
    return tmp_path.resolve()


def config_with(mount: dict) -> dict:
    config = runc_config()
    config["mounts"].append({"destination": "/data", "source": "/tmp", **mount})
    return config


def fake_userns(syscalls, uid_mappings, gid_mappings):
    """The injected helper: no fork, a fixed descriptor."""
    fake_userns.seen = (uid_mappings, gid_mappings)
    return USERNS_FD


def test_mappings_on_a_bind_mount_are_parsed():
    """Both mappings on a bind mount become IdMapping records."""
    spec = load_spec(config_with({"type": "bind", "options": ["rbind"], "uidMappings": MAP, "gidMappings": MAP}))
    assert spec.mounts[-1].uid_mappings == (IdMapping(0, 1000, 1),) == spec.mounts[-1].gid_mappings


def test_mappings_on_a_non_bind_mount_are_refused():
    """runc refuses idmapping anything but a bind mount; the error names the field and the destination."""
    index = len(runc_config()["mounts"])
    with pytest.raises(SpecError, match=rf"^mounts\[{index}\].uidMappings: idmapped mounts need a bind.*/data"):
        load_spec(config_with({"type": "tmpfs", "uidMappings": MAP, "gidMappings": MAP}))


@pytest.mark.parametrize("given, missing", [("uidMappings", "gidMappings"), ("gidMappings", "uidMappings")])
def test_one_mapping_alone_is_refused(given, missing):
    """uid and gid mappings come together (runc requires both)."""
    with pytest.raises(SpecError, match=rf"\.{missing}: an idmapped mount needs both"):
        load_spec(config_with({"type": "bind", given: MAP}))


def test_a_bad_entry_is_named():
    """Entries are validated as linux.uidMappings are, the error naming the entry's field."""
    index = len(runc_config()["mounts"])
    with pytest.raises(SpecError, match=rf"^mounts\[{index}\].uidMappings\[0\].size: must be greater than 0"):
        load_spec(config_with({"type": "bind", "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
                               "gidMappings": MAP}))


def test_the_plan_has_an_idmapped_bind_then_the_remount(bundle):
    """A ro rbind with mappings: an IdmappedBind (recursive) then the usual read-only remount."""
    config = config_with({"type": "bind", "options": ["rbind", "ro"], "uidMappings": MAP, "gidMappings": MAP})
    steps = [s for s in plan_rootfs(load_spec(config), str(bundle / "rootfs"), str(bundle)) if "/data" in s.what]
    assert isinstance(steps[0], IdmappedBind) and steps[0].recursive and steps[0].source == "/tmp"
    assert isinstance(steps[1], MountStep) and steps[1].flags & (c.MS_REMOUNT | c.MS_RDONLY) == (
        c.MS_REMOUNT | c.MS_RDONLY)


@pytest.mark.parametrize("option, recursive", [("bind", 0), ("rbind", c.AT_RECURSIVE)])
def test_open_tree_mount_setattr_move_mount(bundle, option, recursive):
    """open_tree(CLONE) -> mount_setattr(IDMAP, userns) -> move_mount(F/T_EMPTY_PATH) onto the O_PATH target;
    the tree, the target and the user namespace are closed."""
    from harness.runtime import rootfs
    fake = RecordingSyscalls()
    config = config_with({"type": "bind", "options": [option], "uidMappings": MAP, "gidMappings": MAP})
    root = str(bundle / "rootfs")
    rootfs.apply_rootfs_plan(plan_rootfs(load_spec(config), root, str(bundle)), fake, root, make_userns=fake_userns)
    assert fake_userns.seen == ((IdMapping(0, 1000, 1),), (IdMapping(0, 1000, 1),))
    (tree_call,) = fake.arguments_of("open_tree")
    assert tree_call == (c.AT_FDCWD, "/tmp", c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | recursive)
    tree = next(fd for fd in range(1000, 2000) if fake.path_of(fd) == "/tmp")
    (setattr_call,) = fake.arguments_of("mount_setattr")
    assert setattr_call[:4] == (tree, "", c.AT_EMPTY_PATH | recursive, c.MOUNT_ATTR_IDMAP)
    assert setattr_call[-1] == USERNS_FD
    (move,) = fake.arguments_of("move_mount")
    assert move[0] == tree and fake.path_of(move[2]) == "data"
    assert move[4] == c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH
    closed = [arguments[0] for arguments in fake.arguments_of("close")]
    assert {tree, USERNS_FD, move[2]} <= set(closed)
    names = fake.names()
    assert names.index("open_tree") < names.index("mount_setattr") < names.index("move_mount")


@pytest.mark.parametrize("error, message", [
    (errno.ENOSYS, r"uidMappings: idmapped mounts need Linux 5.12 \(mount_setattr\)"),
    (errno.EINVAL, r"the filesystem of /tmp cannot be idmapped on this kernel \(EINVAL\)"),
])
def test_mount_setattr_refusals_are_explained(bundle, error, message):
    """ENOSYS: the kernel is too old; EINVAL: the filesystem cannot be idmapped. Descriptors are still closed."""
    from harness.runtime import rootfs
    fake = RecordingSyscalls()
    fake.fail("mount_setattr", error)
    config = config_with({"type": "bind", "uidMappings": MAP, "gidMappings": MAP})
    root = str(bundle / "rootfs")
    with pytest.raises(ContainerError, match=r"^mounts\[\d+\] \(/data\): .*" + message):
        rootfs.apply_rootfs_plan(plan_rootfs(load_spec(config), root, str(bundle)), fake, root,
                                 make_userns=fake_userns)
    closed = [arguments[0] for arguments in fake.arguments_of("close")]
    assert USERNS_FD in closed and fake.arguments_of("open_tree")
    assert not fake.arguments_of("move_mount")


NATIVE = textwrap.dedent("""
    import os, sys
    from harness.runtime import constants as c
    from harness.runtime.idmap_mount import mapped_user_namespace
    from harness.runtime.spec import IdMapping
    from harness.runtime.syscalls import Syscalls
    src, dst = sys.argv[1:]
    s = Syscalls()
    m = (IdMapping(0, 1000, 1),)
    ns = mapped_user_namespace(s, m, m)
    tree = s.open_tree(c.AT_FDCWD, src, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC)
    try:
        s.mount_setattr(tree, "", c.AT_EMPTY_PATH, attr_set=c.MOUNT_ATTR_IDMAP, userns_fd=ns)
    except OSError as error:
        print("EINVAL" if error.errno == 22 else error); sys.exit(3)
    target = os.open(dst, os.O_PATH)
    s.move_mount(tree, "", target, "", c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH)
    print(os.stat(dst + "/f0").st_uid, os.stat(dst + "/f1000").st_uid, len(os.listdir("/proc/self/fd")))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (user namespaces with host ids, mounts)")
def test_native_idmapped_mount(tmp_path):
    """The real helper and syscalls, in a private mount namespace: mapping containerID 0 -> hostID 1000, a file
    owned by 0 on disk shows as 1000 and one owned by 1000 as the overflow id (the kernel's, and runc's, sense)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "f0").touch()
    (src / "f1000").touch()
    os.chown(src / "f1000", 1000, 1000)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(["unshare", "-m", sys.executable, "-c", NATIVE, str(src), str(dst)], cwd=root,
                            capture_output=True, text=True, timeout=30)
    if result.returncode == 3:
        pytest.skip(f"the filesystem of {tmp_path} cannot be idmapped here: {result.stdout.strip()}")
    assert result.returncode == 0, result.stderr
    uid0, uid1000, _ = result.stdout.split()
    assert (uid0, uid1000) == ("1000", "65534")


@pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)")
def test_container_sees_the_idmapped_owner(make_bundle, state_root, tmp_path):
    """Through the runtime: a host directory bound with containerID 0 -> hostID 1000; `stat -c %u` in the
    container (no user namespace) shows 1000 for a file owned by 0 on disk, as runc 1.2 would (runc 1.1.5 on
    this host has no idmapped mounts to compare with)."""
    from harness.runtime.rootfs_builder import busybox_path
    from harness.runtime.test_integration import run_container
    if not os.path.isfile(busybox_path()):
        pytest.skip(f"no busybox at {busybox_path()}")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f0").touch()
    mount = {"destination": "/shared", "type": "bind", "source": str(shared), "options": ["bind"],
             "uidMappings": MAP, "gidMappings": MAP}
    result = run_container(make_bundle, state_root, ["stat", "-c", "%u %g", "/shared/f0"],
                           lambda config: config["mounts"].append(mount))
    if "cannot be idmapped" in result.stderr:
        pytest.skip(f"the filesystem of {shared} cannot be idmapped here: {result.stderr.strip()}")
    assert (result.returncode, result.stdout.strip()) == (0, "1000 1000"), result.stderr
