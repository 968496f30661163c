"""Tests that each class of invalid config.json raises SpecError naming the JSON path of the bad value."""

import pytest

from harness.runtime.errors import SpecError
from harness.runtime.spec import parse_spec
from harness.runtime.test_spec import DELETE, USER_NAMESPACE, edited

SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW"}

# (id, changes to runc's default config, expected SpecError.path, a fragment of the message)
BAD_CONFIGS = [
    # unknown, unsupported and missing fields
    ("unknown-top-level", {"hookz": []}, "hookz", "unknown field"),
    ("typo-suggests", {"process.cwdd": "/"}, "process.cwdd", 'did you mean "cwd"'),
    ("unknown-hook-kind", {"hooks": {"prestop": []}}, "hooks.prestop", "unknown field"),
    ("unsupported-linux-devices", {"linux.devices": []}, "linux.devices", "not supported"),
    ("unsupported-memory-kernel", {"linux.resources.memory": {"kernel": 1}}, "linux.resources.memory.kernel",
     "not supported"),
    ("idmapped-non-bind-mount", {"mounts[0].uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
     "mounts[0].uidMappings", "idmapped mounts need a bind mount"),
    ("unsupported-unified", {"linux.resources.unified": {}}, "linux.resources.unified", "not supported"),
    ("missing-process", {"process": DELETE}, "process", "required field is missing"),
    ("missing-root-path", {"root": {"readonly": True}}, "root.path", "required field is missing"),
    ("missing-pids-limit", {"linux.resources.pids": {}}, "linux.resources.pids.limit", "required"),
    ("missing-seccomp-action", {"linux.seccomp": {}}, "linux.seccomp.defaultAction", "required"),
    # wrong types
    ("memory-limit-string", {"linux.resources.memory": {"limit": "abc"}}, "linux.resources.memory.limit",
     'expected integer, got "abc"'),
    ("memory-limit-bool", {"linux.resources.memory": {"limit": True}}, "linux.resources.memory.limit",
     "expected integer, got true"),
    ("memory-limit-float", {"linux.resources.memory": {"limit": 1.0}}, "linux.resources.memory.limit",
     "expected integer, got 1.0"),
    ("process-not-object", {"process": ["sh"]}, "process", "expected object"),
    ("terminal-string", {"process.terminal": "yes"}, "process.terminal", "expected boolean"),
    ("mounts-not-array", {"mounts": {}}, "mounts", "expected array"),
    ("option-not-string", {"mounts[1].options[0]": 1}, "mounts[1].options[0]", "expected string"),
    ("sysctl-value-int", {"linux.sysctl": {"net.ipv4.ip_forward": 1}}, 'linux.sysctl["net.ipv4.ip_forward"]',
     "expected string"),
    # ids the kernel reads as "unchanged" (uid_t -1): the process would stay root
    ("uid-minus-one", {"process.user.uid": 4294967295}, "process.user.uid", "out of range [0, 4294967294]"),
    ("gid-minus-one", {"process.user.gid": 4294967295}, "process.user.gid", "out of range [0, 4294967294]"),
    ("additional-gid-minus-one", {"process.user.additionalGids": [4294967295]}, "process.user.additionalGids[0]",
     "out of range"),
    # invalid values
    ("oci-version-2", {"ociVersion": "2.0.0"}, "ociVersion", "expected a 1.x version"),
    ("args-empty", {"process.args": []}, "process.args", "non-empty"),
    ("args-missing", {"process.args": DELETE}, "process.args", "non-empty"),
    ("args-empty-program", {"process.args": [""]}, "process.args[0]", "must not be empty"),
    ("cwd-relative", {"process.cwd": "home"}, "process.cwd", "absolute path"),
    ("env-without-equals", {"process.env[2]": "FOO"}, "process.env[2]", "NAME=VALUE"),
    ("uid-negative", {"process.user.uid": -1}, "process.user.uid", "out of range"),
    ("umask-too-big", {"process.user.umask": 0o1000}, "process.user.umask", "out of range"),
    ("oom-score-adj", {"process.oomScoreAdj": 2000}, "process.oomScoreAdj", "out of range"),
    ("rlimit-type-unknown", {"process.rlimits[1]": {"type": "RLIMIT_NOFILES", "soft": 1, "hard": 1}},
     "process.rlimits[1].type", 'did you mean "RLIMIT_NOFILE"'),
    ("rlimit-soft-above-hard", {"process.rlimits[0].soft": 2048}, "process.rlimits[0].soft", "exceeds hard"),
    ("rlimit-twice", {"process.rlimits[1]": {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}},
     "process.rlimits[1].type", "set twice"),
    ("capability-unknown", {"process.capabilities.bounding[1]": "CAP_KIL"},
     "process.capabilities.bounding[1]", 'unknown capability "CAP_KIL"'),
    ("capability-without-prefix", {"process.capabilities.ambient[0]": "KILL"},
     "process.capabilities.ambient[0]", 'start with "CAP_"'),
    ("capability-set-unknown", {"process.capabilities.bound": []}, "process.capabilities.bound", "unknown field"),
    ("mount-destination-relative", {"mounts[0].destination": "proc"}, "mounts[0].destination", "absolute"),
    ("namespace-twice", {"linux.namespaces[5]": {"type": "pid"}}, "linux.namespaces[5].type", "listed twice"),
    ("namespace-type-unknown", {"linux.namespaces[1].type": "net"}, "linux.namespaces[1].type",
     'did you mean "network"'),
    ("namespace-path-relative", {"linux.namespaces[1].path": "ns/net"}, "linux.namespaces[1].path", "absolute"),
    ("uid-map-size-zero", {**USER_NAMESPACE, "linux.uidMappings[0].size": 0}, "linux.uidMappings[0].size",
     "greater than 0"),
    ("uid-map-overflows", {**USER_NAMESPACE, "linux.gidMappings[0].hostID": 4294967000},
     "linux.gidMappings[0].size", "runs past"),
    ("uid-map-without-userns", {"linux.uidMappings": USER_NAMESPACE["linux.uidMappings"]}, "linux.uidMappings",
     "needs a user namespace"),
    ("userns-without-gid-map", {key: value for key, value in USER_NAMESPACE.items() if key != "linux.gidMappings"},
     "linux.gidMappings", "needs uid and gid mappings"),
    ("hostname-without-uts", {"linux.namespaces[3].type": "cgroup"}, "hostname", "needs a uts namespace"),
    ("time-offset-without-timens", {"linux.timeOffsets": {"boottime": {"secs": 1}}}, "linux.timeOffsets",
     "needs a time namespace"),
    ("time-offset-nanosecs", {"linux.namespaces[5]": {"type": "time"},
                              "linux.timeOffsets": {"monotonic": {"nanosecs": 1000000000}}},
     "linux.timeOffsets.monotonic.nanosecs", "out of range"),
    ("time-offset-clock-unknown", {"linux.namespaces[5]": {"type": "time"}, "linux.timeOffsets": {"realtime": {}}},
     "linux.timeOffsets.realtime", "unknown field"),
    ("memory-limit-below-minus-one", {"linux.resources.memory": {"limit": -2}}, "linux.resources.memory.limit",
     "out of range [-1,"),
    ("swap-below-limit", {"linux.resources.memory": {"limit": 2000, "swap": 1000}}, "linux.resources.memory.swap",
     "below the memory limit"),
    ("cpu-quota-zero", {"linux.resources.cpu": {"quota": 0}}, "linux.resources.cpu.quota", "positive quota"),
    ("cpu-period-zero", {"linux.resources.cpu": {"period": 0}}, "linux.resources.cpu.period", "out of range"),
    ("cpu-shares-one", {"linux.resources.cpu": {"shares": 1}}, "linux.resources.cpu.shares", "out of range"),
    ("cpuset-letters", {"linux.resources.cpu": {"cpus": "a"}}, "linux.resources.cpu.cpus", "invalid cpuset"),
    ("cpuset-empty-item", {"linux.resources.cpu": {"cpus": "0,,1"}}, "linux.resources.cpu.cpus", "invalid cpuset"),
    ("cpuset-backwards", {"linux.resources.cpu": {"mems": "0,3-1"}}, "linux.resources.cpu.mems", "backwards"),
    ("blockio-weight", {"linux.resources.blockIO": {"weight": 5}}, "linux.resources.blockIO.weight",
     "out of range"),
    ("throttle-missing-rate", {"linux.resources.blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0}]}},
     "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate", "required"),
    ("device-access", {"linux.resources.devices[0].access": "rwx"}, "linux.resources.devices[0].access", "rwm"),
    ("device-type", {"linux.resources.devices[0].type": "x"}, "linux.resources.devices[0].type",
     "unknown device type"),
    ("device-allow-missing", {"linux.resources.devices[0]": {"access": "r"}}, "linux.resources.devices[0].allow",
     "required"),
    ("masked-path-relative", {"linux.maskedPaths[3]": "proc/keys"}, "linux.maskedPaths[3]", "absolute"),
    ("sysctl-name-escapes", {"linux.sysctl": {"../../etc/passwd": "x"}}, 'linux.sysctl["../../etc/passwd"]',
     "invalid sysctl name"),
    ("propagation", {"linux.rootfsPropagation": "privat"}, "linux.rootfsPropagation", 'did you mean "private"'),
    ("seccomp-action", {"linux.seccomp": {"defaultAction": "ALLOW"}}, "linux.seccomp.defaultAction",
     "unknown seccomp action"),
    ("seccomp-notify", {"linux.seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}, "linux.seccomp.defaultAction",
     "listener"),
    ("seccomp-arg-index", {"linux.seccomp": {**SECCOMP, "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}},
     "linux.seccomp.syscalls[0].args[0].index", "out of range"),
    ("seccomp-no-names", {"linux.seccomp": {**SECCOMP, "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}},
     "linux.seccomp.syscalls[0].names", "at least one"),
]


@pytest.mark.parametrize("changes, path, fragment", [case[1:] for case in BAD_CONFIGS],
                         ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_names_json_path(changes, path, fragment):
    """Each invalid config raises SpecError whose path is the offending field and whose message says why."""
    with pytest.raises(SpecError) as caught:
        parse_spec(edited(changes))
    assert caught.value.path == path
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{path}: ")


def test_message_format_matches_documented_example():
    """The message reads exactly as DESIGN's example: path, colon, expected type and the JSON value given."""
    with pytest.raises(SpecError) as caught:
        parse_spec(edited({"linux.resources.memory": {"limit": "abc"}}))
    assert str(caught.value) == 'linux.resources.memory.limit: expected integer, got "abc"'


def test_top_level_not_an_object_names_the_top_level():
    """A config that is not a JSON object names the document itself."""
    with pytest.raises(SpecError) as caught:
        parse_spec(["not", "an", "object"])
    assert caught.value.path == ""
    assert str(caught.value) == '(top level): expected object, got ["not", "an", "object"]'


def test_long_bad_values_are_shortened_in_messages():
    """A huge bad value is cut in the message so errors stay one readable line."""
    with pytest.raises(SpecError) as caught:
        parse_spec(edited({"process.cwd": "x" * 500}))
    assert len(str(caught.value)) < 150
    assert str(caught.value).endswith("xxx...")


def test_deeply_nested_document_is_a_spec_error_not_a_recursion_error(tmp_path):
    """A config.json nested 100000 levels deep: a SpecError naming the file, not a RecursionError traceback."""
    from harness.runtime.spec import load_spec
    path = tmp_path / "config.json"
    path.write_text('{"ociVersion": "1.0.2", "linux": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    with pytest.raises(SpecError, match="nested too deeply"):
        load_spec(str(path))
