"""Guest tests of the eBPF device program: which nodes a container may create, read and write."""

import os
import uuid

import pytest

from harness.runtime import api, bpf
from harness.runtime.cgroups import UNIFIED_ROOT, unified_root
from harness.runtime.rootfs_builder import busybox_path
from harness.runtime.syscalls import Syscalls

pytestmark = [
    pytest.mark.requires("cgroup2"),
    pytest.mark.skipif(os.geteuid() != 0, reason="containers and cgroups need root"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
    pytest.mark.skipif(unified_root() is None, reason=f"cgroup v2 is not mounted alone at {UNIFIED_ROOT}"),
]

DENIED = "Operation not permitted"


def with_devices(rules):
    """A config edit: these device rules, and CAP_MKNOD so that only the device program can refuse a mknod."""
    def edit(config):
        config["linux"]["resources"]["devices"] = rules
        for name in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][name].append("CAP_MKNOD")
    return edit


def run_script(make_bundle, state_root, tmp_path, script: str, rules) -> tuple[int, str]:
    """Run `sh -c script` with the rules; its exit status and its stdout+stderr."""
    output = tmp_path / f"out-{uuid.uuid4().hex[:8]}"
    with open(output, "w") as stream:
        status = api.run(make_bundle(["sh", "-c", script], with_devices(rules)), f"d-{uuid.uuid4().hex[:8]}",
                         root=state_root, stdout=stream, stderr=stream)
    return status, output.read_text()


def test_default_rules_allow_null_and_refuse_a_disk(make_bundle, state_root, tmp_path):
    """runc's default (deny all, then the default devices): /dev/null reads and writes, mknod of a disk node is
    allowed (every mknod is, as in runc), but opening the disk node b 8:0 fails with EPERM."""
    script = ("head -c 1 /dev/null; echo null-read=$?; echo x > /dev/null; echo null-write=$?; "
              "mknod /dev/sda b 8 0; echo mknod=$?; head -c 1 /dev/sda; echo disk-read=$?")
    status, output = run_script(make_bundle, state_root, tmp_path, script, [{"allow": False, "access": "rwm"}])
    assert status == 0, output
    for expected in ("null-read=0", "null-write=0", "mknod=0", "disk-read=1"):
        assert expected in output.split(), output
    assert f"/dev/sda: {DENIED}" in output


def test_explicit_rules_grant_exactly_their_access(make_bundle, state_root, tmp_path):
    """With "allow c 1:3 r" and "allow b 8:0 r" after the deny-all, /dev/null reads, and the disk node may be
    opened for reading (the device program lets it through, so the kernel answers ENXIO: no such disk) but not for
    writing (EPERM)."""
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
             {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"}]
    script = ("head -c 1 /dev/null; echo null-read=$?; mknod /dev/sda b 8 0; "
              "head -c 1 /dev/sda; echo disk-read=$?; echo x > /dev/sda; echo disk-write=$?")
    status, output = run_script(make_bundle, state_root, tmp_path, script, rules)
    assert status == 0, output
    assert "null-read=0" in output.split(), output
    read_error, write_error = [line for line in output.splitlines() if "/dev/sda" in line]
    assert DENIED not in read_error and "No such device" in read_error, output
    assert DENIED in write_error, output


def test_program_is_attached_to_the_cgroup(make_bundle, state_root):
    """Exactly one BPF_CGROUP_DEVICE program is attached to a created container's cgroup (queried with bpf(2))."""
    api.create(make_bundle(["true"]), "attached", root=state_root)
    fd = os.open(os.path.join(UNIFIED_ROOT, "kharness", "attached"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(Syscalls().bpf_prog_query(fd, bpf.BPF_CGROUP_DEVICE)) == 1
    finally:
        os.close(fd)
