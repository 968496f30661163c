"""User namespace: root inside is an unprivileged uid outside, and its capabilities only reach its own namespace."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.containers import with_namespaces

USER_NS = ["user", "pid", "mount", "ipc", "uts", "network"]
HOST_BASE, MAP_SIZE = 100000, 65536
CAP_SYS_ADMIN, CAP_MKNOD = 21, 27


def status_field(status: str, name: str) -> list[str]:
    """The values of one line of /proc/PID/status, e.g. Uid -> [real, effective, saved, fs]."""
    match = re.search(rf"^{name}:\s+(.*)$", status, re.M)
    assert match, f"no {name} line in {status!r}"
    return match.group(1).split()


def map_lines(text: str) -> list[list[int]]:
    return [[int(word) for word in line.split()] for line in text.splitlines() if line.strip()]


def add_capabilities(config: dict, *names: str) -> dict:
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].extend(names)
    return config


@pytest.fixture
def host_owned_file(as_root):
    """A file owned by host root, mode 0644, in a directory an unprivileged host uid can traverse."""
    directory = Path(tempfile.mkdtemp(prefix="kh-userns-"))
    try:
        os.chmod(directory, 0o755)
        path = directory / "owned-by-host-root"
        path.write_text("host\n")
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_id_maps_are_the_configured_ones(container):
    """/proc/self/uid_map and gid_map of the container's user namespace read "0 100000 65536"."""
    config = with_namespaces(container.config(["cat", "/proc/self/uid_map", "/proc/self/gid_map"]), USER_NS)
    lines = map_lines(container.run(config=config).check().stdout)
    assert lines == [[0, HOST_BASE, MAP_SIZE], [0, HOST_BASE, MAP_SIZE]]
    with open("/proc/self/uid_map") as host_map:  # the host's own namespace is the initial, identity one
        assert map_lines(host_map.read()) == [[0, 0, 2**32 - 1]]


def test_root_inside_is_uid_100000_outside(container):
    """Uid 0 inside the namespace is host uid 100000 (and gid 0 is 100000): the host's status of the same process."""
    config = with_namespaces(container.config(["sh", "-c", "id -u; id -g; echo ready; sleep 300"]), USER_NS)
    running = container.start(config=config)
    assert running.wait_output("ready").split()[:2] == ["0", "0"]
    status = running.proc("status")
    assert status_field(status, "Uid") == [str(HOST_BASE)] * 4
    assert status_field(status, "Gid") == [str(HOST_BASE)] * 4


def test_capabilities_are_held_in_the_namespace_but_the_host_sees_an_unprivileged_uid(container):
    """The container's root has a non-empty CapEff, but in a user namespace of its own, as a non-root host uid."""
    config = with_namespaces(container.config(["sh", "-c", "grep CapEff /proc/self/status; echo ready; sleep 300"]),
                             USER_NS)
    running = container.start(config=config)
    inside = int(status_field(running.wait_output("ready"), "CapEff")[0], 16)
    assert inside != 0
    status = running.proc("status")
    assert int(status_field(status, "CapEff")[0], 16) == inside
    assert status_field(status, "Uid") == [str(HOST_BASE)] * 4
    assert os.readlink(f"/proc/{running.pid}/ns/user") != os.readlink("/proc/self/ns/user")


def _write_bound_file(container, path: Path, kinds: list[str]):
    config = container.config(["sh", "-c", "echo container > /tmp/bound"])
    config["mounts"].append({"destination": "/tmp/bound", "type": "bind", "source": str(path),
                             "options": ["bind", "rw"]})
    return container.run(config=with_namespaces(config, kinds))


def test_root_inside_cannot_write_a_host_root_file(container, host_owned_file):
    """A host-root-owned 0644 file bound read-write is not writable by the namespace's root (EACCES): its owner is
    unmapped, so only the "other" bits apply."""
    result = _write_bound_file(container, host_owned_file, USER_NS)
    assert result.status != 0
    assert "Permission denied" in result.stderr
    assert host_owned_file.read_text() == "host\n"


def test_root_without_a_user_namespace_can_write_the_same_file(container, host_owned_file):
    """The same bind without a user namespace: the container's root is host root, the file's owner, and writes it."""
    _write_bound_file(container, host_owned_file, ["pid", "mount", "ipc", "uts", "network"]).check()
    assert host_owned_file.read_text() == "container\n"


# Allow the node the tests make (c 1:3, /dev/null), so the devices cgroup (v1, or runc's eBPF filter on v2) does
# not refuse the mknod before the capability check does.
_ALLOW_NULL = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "m"}
_MKNOD = "grep CapEff /proc/self/status; mknod /tmp/null c 1 3 && echo made"


def _mknod_config(container, kinds: list[str]) -> dict:
    config = add_capabilities(container.config(["sh", "-c", _MKNOD]), "CAP_SYS_ADMIN", "CAP_MKNOD")
    config["linux"]["resources"]["devices"].append(_ALLOW_NULL)
    return with_namespaces(config, kinds)


def test_mknod_of_a_device_is_refused_in_a_user_namespace(container):
    """CAP_MKNOD (and CAP_SYS_ADMIN) held only in a user namespace do not allow mknod of a character device: the
    kernel checks CAP_MKNOD in the initial namespace (EPERM)."""
    result = container.run(config=_mknod_config(container, USER_NS))
    caps = int(status_field(result.stdout, "CapEff")[0], 16)
    assert caps & (1 << CAP_MKNOD) and caps & (1 << CAP_SYS_ADMIN), f"CapEff {caps:#x} lacks MKNOD or SYS_ADMIN"
    assert result.status != 0 and "made" not in result.stdout
    assert "Operation not permitted" in result.stderr


def test_mknod_of_a_device_works_without_a_user_namespace(container):
    """With CAP_MKNOD in the initial user namespace, the same mknod of a character device succeeds."""
    result = container.run(config=_mknod_config(container, ["pid", "mount", "ipc", "uts", "network"])).check()
    assert result.stdout.split()[-1] == "made"
