"""Mount namespace: mounts stay on their side, propagation is private, the old root is gone, masks hold."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

_libc = ctypes.CDLL(None, use_errno=True)


def with_sys_admin(config: dict) -> dict:
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_SYS_ADMIN")
    return config


def test_mount_made_inside_is_invisible_outside(container):
    """A tmpfs mounted inside appears in the container's mountinfo and not in the host's."""
    marker = f"kh-{uuid.uuid4().hex[:8]}"
    config = with_sys_admin(container.config(
        ["sh", "-c", f"mount -t tmpfs {marker} /tmp && echo mounted; sleep 300"]))
    running = container.start(config=config)
    running.wait_output("mounted")
    assert marker in running.proc("mountinfo")
    assert marker not in Path("/proc/self/mountinfo").read_text()


def test_host_mount_does_not_propagate_into_a_running_container(container, bundles):
    """A mount the host makes under the rootfs after the container started stays invisible inside."""
    running = container.start(["sleep", "300"])
    target = bundles.rootfs / "mnt"
    target.mkdir(exist_ok=True)
    marker = f"kh-{uuid.uuid4().hex[:8]}"
    if _libc.mount(marker.encode(), str(target).encode(), b"tmpfs", 0, None) != 0:
        pytest.fail(f"mount(tmpfs on {target}) on the host failed: {os.strerror(ctypes.get_errno())}")
    try:
        assert marker in Path("/proc/self/mountinfo").read_text()
        assert marker not in running.proc("mountinfo")
    finally:
        _libc.umount2(str(target).encode(), 2)


@dataclass(frozen=True)
class Mount:
    """One line of a mountinfo file: device (major:minor), root within its filesystem, mount point."""

    device: str
    root: str
    point: str


def unescape(field: str) -> str:
    """A mountinfo path with the kernel's octal escapes (\\040 for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        mounts.append(Mount(fields[2], unescape(fields[3]), unescape(fields[4])))
    return mounts


def within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def filesystem_location(path: str, mounts: list[Mount]) -> tuple[str, str]:
    """(device, path within that filesystem) of a host path: through the deepest mount over it (the last one
    mounted, where several are stacked)."""
    over = [m for m in mounts if within(path, m.point)]
    deepest = max(len(m.point.rstrip("/")) for m in over)
    mount = [m for m in over if len(m.point.rstrip("/")) == deepest][-1]
    rest = path[len(mount.point.rstrip("/")):].lstrip("/")
    return mount.device, os.path.join(mount.root, rest) if rest else mount.root


def exposures(location: tuple[str, str], mounts: list[Mount]) -> set[str]:
    """Where a file at `location` (device, path within its filesystem) is reachable through `mounts`: every mount
    of that device whose root holds it, wherever it is mounted (a tree mounted elsewhere is found too, unlike
    with `find -xdev /`)."""
    device, inside = location
    return {os.path.join(m.point, os.path.relpath(inside, m.root)) for m in mounts
            if m.device == device and within(inside, m.root)}


# Filesystems that cannot hold a host file: the scan inside skips them (they are large and slow under TCG).
VIRTUAL = "proc|sysfs|cgroup|cgroup2|devpts|mqueue|securityfs|debugfs|tracefs|bpf"


def scan_script(name: str) -> str:
    """Inside the container: its mountinfo, then `find -xdev` for `name` from every mount point of a filesystem
    that can hold files, each on its own, so an old root mounted anywhere is searched too."""
    return (f"cat /proc/self/mountinfo; echo ---; "
            f"awk '{{ for (i = 7; $i != \"-\"; i++); if ($(i + 1) !~ /^({VIRTUAL})$/) print $5 }}' /proc/self/mountinfo"
            f" | while read -r point; do find \"$point\" -xdev -name {name} 2>/dev/null; done")


@pytest.fixture
def host_file():
    """A file with a random name in a fresh host directory (outside every rootfs), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="kharness-oldroot-"))
    path = directory / f"kh-host-only-{uuid.uuid4().hex[:8]}"
    path.write_text("host\n")
    yield path
    shutil.rmtree(directory, ignore_errors=True)


def test_pivot_root_leaves_no_path_to_the_old_root(container, host_file):
    """After pivot_root no mount inside exposes the host's root filesystem or a host file, wherever it might be
    mounted: the container's mountinfo holds no mount of the host root's (device, root), no mount reaches a host
    file (by device and path), and `find -xdev` from every mount point inside does not find it. Positive control:
    the same file bind-mounted in on purpose is found, at exactly that path, by both checks."""
    visible = "/tmp/kh-visible"
    config = container.config(["sh", "-c", scan_script(host_file.name)])
    config["mounts"].append({"destination": visible, "type": "bind", "source": str(host_file.parent),
                             "options": ["rbind", "ro"]})
    mountinfo, _, found = container.run(config=config).check().stdout.partition("---\n")
    inside, host = parse_mountinfo(mountinfo), parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    expected = {f"{visible}/{host_file.name}"}

    host_root = [m for m in host if m.point == "/"][-1]
    old_roots = [m.point for m in inside if (m.device, m.root) == (host_root.device, host_root.root)]
    assert not old_roots, \
        f"the host's root filesystem ({host_root.device} {host_root.root}) is mounted inside at {old_roots}"

    reached = exposures(filesystem_location(str(host_file), host), inside)
    assert reached - expected == set(), f"mounts inside reach the host file {host_file} at {sorted(reached - expected)}"
    assert expected <= reached, (f"positive control: the container's mountinfo does not show the bind of "
                                 f"{host_file.parent} at {visible} as reaching {host_file}: {sorted(reached)}")

    found = set(found.split())
    assert found - expected == set(), \
        f"find -xdev from the mount points inside found the host file {host_file} at {sorted(found - expected)}"
    assert expected <= found, (f"positive control: the scan inside did not find {host_file.name} at {visible}, "
                               f"where it is bind-mounted, so it finds nothing anywhere: {sorted(found)}")
    assert inside[0].point == "/", f"the container's first mount is {inside[0]}, not its root"


MASKED_FILES = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
MASKED_DIRS = ("/sys/firmware", "/proc/acpi", "/proc/scsi")


def test_masked_paths_read_empty(container):
    """maskedPaths: masked files (present on the host) read as empty, masked directories list nothing."""
    files = [f for f in MASKED_FILES if os.path.exists(f)]
    dirs = [d for d in MASKED_DIRS if os.path.isdir(d) and os.listdir(d)]
    if not files and not dirs:
        pytest.skip("none of the masked paths exists on this kernel")
    script = "; ".join([f"wc -c < {f}" for f in files] + [f"ls -A {d} | wc -l" for d in dirs])
    sizes = container.run(["sh", "-c", script]).check().stdout.split()
    assert sizes == ["0"] * (len(files) + len(dirs))


# Opens each path for writing (creating it where it does not exist) and prints the errno's name, or "written":
# "refused" must mean EROFS, a read-only mount, never EACCES, EPERM or ENOENT.
WRITE_PROBE = ("import errno, os, sys\n"
               "for path in sys.argv[1:]:\n"
               "    try:\n"
               "        os.close(os.open(path, os.O_WRONLY | (0 if os.path.exists(path) else os.O_CREAT), 0o644))\n"
               "        print(path, 'written')\n"
               "    except OSError as error:\n"
               "        print(path, errno.errorcode.get(error.errno, error.errno))\n")


def write_outcomes(container, python_in_container, paths: list[str], sys_admin: bool = False) -> dict[str, str]:
    """{path: "written" or the errno's name} of opening each path for writing inside a container."""
    python, mounts = python_in_container
    config = container.config([python, "-c", WRITE_PROBE, *paths])
    config["mounts"].extend(mounts)
    if sys_admin:
        with_sys_admin(config)
    result = container.run(config=config).check()
    return dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())


def test_readonly_paths_refuse_writes(container, python_in_container):
    """readonlyPaths: /proc/sys is mounted read-only inside, so opening a file of it for writing fails with EROFS
    even for root with CAP_SYS_ADMIN (EPERM or EACCES would be permissions, not the read-only mount)."""
    path = "/proc/sys/kernel/hostname"
    outcome = write_outcomes(container, python_in_container, [path], sys_admin=True)[path]
    assert outcome == "EROFS", f"open({path}, O_WRONLY) inside: {outcome}, expected EROFS (a read-only mount)"


def test_readonly_root_refuses_writes_and_tmp_accepts_them(container, python_in_container, bundles):
    """root.readonly: creating a file in / fails with EROFS (the mount, not a permission); the tmpfs at /tmp stays
    writable."""
    name = f"kh-new-{uuid.uuid4().hex[:8]}"
    try:
        outcomes = write_outcomes(container, python_in_container, [f"/{name}", f"/tmp/{name}"])
    finally:
        (bundles.rootfs / name).unlink(missing_ok=True)  # what a writable root would have left in the shared rootfs
    assert outcomes[f"/{name}"] == "EROFS", \
        f"open(/{name}, O_WRONLY|O_CREAT) inside: {outcomes[f'/{name}']}, expected EROFS (a read-only root)"
    assert outcomes[f"/tmp/{name}"] == "written", f"open(/tmp/{name}, O_WRONLY|O_CREAT) inside: {outcomes}"


def test_propagation_inside_is_private(container):
    """The container's mounts are not shared: mountinfo shows no shared: peer group tag."""
    out = container.run(["cat", "/proc/self/mountinfo"]).check().stdout
    assert out.strip()
    assert "shared:" not in out
