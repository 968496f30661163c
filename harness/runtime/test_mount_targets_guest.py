"""Root tests of mount destinations behind symlinks: the mount lands in the container's rootfs, never on the host."""

import os
import shutil
import tempfile

import pytest

from harness.runtime import api
from harness.runtime.rootfs_builder import busybox_path
from harness.runtime.syscalls import Syscalls

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
]


def mount_points(mountinfo: str) -> list[str]:
    """The mount points listed in a mountinfo file (relative to the root of the process it describes)."""
    with open(mountinfo, encoding="utf-8") as lines:
        return [line.split()[4] for line in lines]


def under(directory: str, paths: list[str]) -> list[str]:
    return [path for path in paths if path == directory or path.startswith(directory + "/")]


@pytest.fixture
def host_directory():
    """An empty directory of the host, in /tmp, whose absolute path a hostile rootfs links to."""
    path = tempfile.mkdtemp(prefix="kharness-host-")
    try:
        yield path
    finally:
        # Should a mount have landed there after all, detach it first: rmtree would empty the bound volume.
        for mount_point in reversed(under(path, mount_points("/proc/self/mountinfo"))):
            Syscalls().umount2(mount_point, 2)  # MNT_DETACH
        shutil.rmtree(path)


def test_bind_behind_an_absolute_symlink_to_a_host_path_stays_in_the_rootfs(make_bundle, state_root, rootfs,
                                                                             host_directory, tmp_path):
    """A rootfs with /evil -> /tmp/kharness-host-XXXX (a path that exists on the host) and a bind mount at /evil/x:
    after `create` the host's directory has no new mount and no new entry, the container's mountinfo shows the
    bind at the link's target inside its own root, and the container reads the volume through /evil/x."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "marker").write_text("volume\n")
    link = os.path.join(rootfs, "evil")
    os.symlink(host_directory, link)

    def with_bind(config):
        config["mounts"].append({"destination": "/evil/x", "type": "bind", "source": str(volume),
                                 "options": ["rbind", "ro"]})
    bundle = make_bundle(["cat", "/evil/x/marker"], with_bind)
    output = tmp_path / "output"
    try:
        with open(output, "w") as stream:
            pid = api.create(bundle, "evil", root=state_root, stdout=stream, stderr=stream)
        assert os.listdir(host_directory) == []
        assert under(host_directory, mount_points("/proc/self/mountinfo")) == []
        assert f"{host_directory}/x" in mount_points(f"/proc/{pid}/mountinfo")
        with open(f"/proc/{pid}/root{host_directory}/x/marker", encoding="utf-8") as marker:
            assert marker.read() == "volume\n"
        api.start("evil", root=state_root)
        assert api.wait("evil", root=state_root) == 0
        assert output.read_text() == "volume\n"
    finally:
        api.delete("evil", force=True, root=state_root)
        os.unlink(link)
        shutil.rmtree(os.path.join(rootfs, host_directory.lstrip("/")), ignore_errors=True)
    assert os.listdir(host_directory) == []
