"""Tests of spec loading: runc's default config loads unchanged; each kind of bad input names its JSON path."""

import copy
import json
import re
from pathlib import Path

import pytest

from harness.runtime.errors import SpecError
from harness.runtime.record import FrozenInstanceError
from harness.runtime.spec import Capabilities, IdMapping, Namespace, Rlimit, TimeOffset, load_spec, parse_spec

RUNC_SPEC_FILE = Path(__file__).parent / "testdata" / "runc-1.1.5-spec.json"
DELETE = object()  # as a value in an edit: remove the key


def runc_config() -> dict:
    """A fresh copy of what `runc spec` (runc 1.1.5) writes."""
    return json.loads(RUNC_SPEC_FILE.read_text())


def edited(changes: dict) -> dict:
    """runc's config with each `path: value` applied; a path is like `process.rlimits[0].type`, an index
    one past the end appends."""
    config = runc_config()
    for path, value in changes.items():
        steps = [int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", path)]
        parent = config
        for step in steps[:-1]:
            if isinstance(step, str) and step not in parent:
                parent[step] = {}
            parent = parent[step]
        if value is DELETE:
            del parent[steps[-1]]
        elif isinstance(parent, list) and steps[-1] == len(parent):
            parent.append(copy.deepcopy(value))
        else:
            parent[steps[-1]] = copy.deepcopy(value)
    return config


USER_NAMESPACE = {
    "linux.namespaces[5]": {"type": "user"},
    "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


def test_runc_default_spec_loads_unchanged():
    """The exact output of `runc spec` loads, every value kept as written."""
    spec = load_spec(RUNC_SPEC_FILE)
    assert spec.oci_version == "1.0.2-dev"
    assert spec.process.terminal is True
    assert spec.process.args == ("sh",)
    assert spec.process.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm")
    assert spec.process.cwd == "/"
    assert spec.process.user.uid == 0 and spec.process.user.gid == 0
    caps = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert spec.process.capabilities == Capabilities(bounding=caps, effective=caps, permitted=caps, ambient=caps)
    assert spec.process.rlimits == (Rlimit(type="RLIMIT_NOFILE", soft=1024, hard=1024),)
    assert spec.process.no_new_privileges is True
    assert spec.root.path == "rootfs" and spec.root.readonly is True
    assert spec.hostname == "runc"
    assert [(m.destination, m.type) for m in spec.mounts] == [
        ("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"), ("/sys", "sysfs"), ("/sys/fs/cgroup", "cgroup")]
    assert spec.mounts[2].options == ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")
    assert [n.type for n in spec.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert spec.linux.resources.devices[0].allow is False
    assert spec.linux.resources.devices[0].access == "rwm"
    assert "/proc/kcore" in spec.linux.masked_paths
    assert "/proc/sysrq-trigger" in spec.linux.readonly_paths


def test_runc_default_spec_with_cgroup_namespace_loads():
    """runc releases after 1.1 also list a cgroup namespace by default; that loads too."""
    spec = parse_spec(edited({"linux.namespaces[5]": {"type": "cgroup"}}))
    assert spec.linux.namespace("cgroup") == Namespace(type="cgroup")


def test_load_spec_accepts_dict_file_and_bundle_directory(tmp_path):
    """A dict, a path to config.json and the bundle directory all give the same Spec."""
    (tmp_path / "config.json").write_text(RUNC_SPEC_FILE.read_text())
    from_dict = load_spec(runc_config())
    assert load_spec(tmp_path / "config.json") == from_dict
    assert load_spec(str(tmp_path)) == from_dict


def test_malformed_json_is_a_spec_error_with_its_position(tmp_path):
    """A config.json that is not JSON raises SpecError naming the file, line and column."""
    config = tmp_path / "config.json"
    config.write_text('{"ociVersion": "1.0.2",\n  "process": }')
    with pytest.raises(SpecError) as caught:
        load_spec(config)
    assert "config.json is not valid JSON" in str(caught.value)
    assert "line 2" in str(caught.value)


def test_spec_is_deeply_frozen_and_hashable():
    """No part of a Spec can be changed after parsing, and it can be used as a dict key."""
    changes = {"linux.sysctl": {"net.ipv4.ip_forward": "1"}, "annotations": {"a": "b"}}
    spec = parse_spec(edited(changes))
    with pytest.raises(FrozenInstanceError):
        spec.hostname = "other"
    with pytest.raises(FrozenInstanceError):
        spec.process.user.uid = 1
    with pytest.raises(TypeError):
        spec.linux.sysctl["net.ipv4.ip_forward"] = "0"
    with pytest.raises(TypeError):
        spec.annotations["a"] = "c"
    assert isinstance(spec.mounts, tuple) and isinstance(spec.process.args, tuple)
    same = parse_spec(edited(changes))
    assert same == spec and hash(same) == hash(spec)


def test_every_supported_field_parses():
    """A config using every implemented field parses into the expected values."""
    spec = parse_spec(edited({
        **USER_NAMESPACE,
        "linux.namespaces[6]": {"type": "time"},
        "linux.namespaces[7]": {"type": "cgroup", "path": "/proc/1/ns/cgroup"},
        "domainname": "example.org",
        "process.user": {"uid": 1000, "gid": 1000, "umask": 0o022, "additionalGids": [5, 6]},
        "process.apparmorProfile": "unconfined",
        "process.oomScoreAdj": -500,
        "linux.timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}, "boottime": {"secs": -3}},
        "linux.resources.memory": {"limit": 1 << 30, "reservation": -1, "swap": 2 << 30, "disableOOMKiller": False},
        "linux.resources.cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-2,4", "mems": "0"},
        "linux.resources.pids": {"limit": 64},
        "linux.resources.blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]},
        "linux.resources.devices[1]": {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "rw"},
        "linux.cgroupsPath": "/harness/c1",
        "linux.sysctl": {"net.ipv4.ip_forward": "1"},
        "linux.rootfsPropagation": "rprivate",
        "linux.seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                          "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                          "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
                                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
        "annotations": {"org.example/key": "value"},
    }))
    linux = spec.linux
    assert linux.uid_mappings == (IdMapping(container_id=0, host_id=100000, size=65536),)
    assert linux.namespace("cgroup").path == "/proc/1/ns/cgroup"
    assert linux.time_offsets["monotonic"] == TimeOffset(secs=10, nanosecs=5)
    assert linux.time_offsets["boottime"] == TimeOffset(secs=-3)
    assert spec.process.user.additional_gids == (5, 6) and spec.process.user.umask == 0o022
    assert spec.process.oom_score_adj == -500 and spec.process.apparmor_profile == "unconfined"
    assert linux.resources.memory.limit == 1 << 30 and linux.resources.memory.reservation == -1
    assert linux.resources.cpu.cpus == "0-2,4" and linux.resources.cpu.quota == 50000
    assert linux.resources.pids.limit == 64
    assert linux.resources.block_io.throttle_read_bps_device[0].rate == 1
    assert linux.resources.devices[1].major == 1 and linux.resources.devices[1].minor is None
    assert linux.seccomp.syscalls[0].args[0].op == "SCMP_CMP_EQ"
    assert linux.rootfs_propagation == "rprivate" and linux.cgroups_path == "/harness/c1"
    assert dict(spec.annotations) == {"org.example/key": "value"} and spec.domainname == "example.org"
