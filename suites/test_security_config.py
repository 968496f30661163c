"""The runc CVE classes as attacks (sysctls, mount targets, bounding set, uid -1, exec config, devices); each
test asserts that the host side stays intact.

An attack may be refused (create or run raises, or the CLI exits non-zero) or fail inside the container: either
passes, as long as the host is intact: a canary file's random secret never appears in a container's output, its
content and directory are unchanged and nothing is mounted on them, host sysctls keep their values, and no
container process or state entry is left behind. The same tests hold runc and crun to it (--runtime).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import time
from pathlib import Path

import pytest

from harness.runtime.constants import CAPABILITIES
from harness.runtime.errors import ContainerError, SpecError
from suites.security_support import DEADLINE, add_capability, attempt, mount_points, output_of, report, \
    start_unless_refused, status_field

# A refusal passes these tests, so a runtime that refuses everything would pass them all: first it must run a
# plain container here.
pytestmark = pytest.mark.usefixtures("plain_container_runs")


# -------------------------------------------------------------------------------------------------- 3. sysctls

def _host_sysctl(key: str) -> str:
    return Path("/proc/sys", *key.split(".")).read_text()


def _restore_sysctl(key: str, value: str) -> None:
    Path("/proc/sys", *key.split(".")).write_text(value)


def _flip(value: str) -> str:
    return "0" if value.strip() == "1" else "1"


@pytest.mark.parametrize("key, make_value, without", [
    ("kernel.core_pattern", lambda before: "|/tmp/pwn %p", None),
    ("kernel.hostname", lambda before: f"kh-pwn-{secrets.token_hex(3)}", "uts"),
    ("net.ipv4.ip_forward", _flip, "network"),
], ids=["core_pattern", "hostname-without-uts", "ip_forward-without-netns"])
def test_host_global_sysctl_is_never_written(container, host, key, make_value, without):
    """linux.sysctl writes /proc/sys inside the container, which changes the host for a key no namespace of the
    container covers: kernel.core_pattern is global (a "|program" runs as root on the host at the next core
    dump), kernel.hostname belongs to the uts namespace and net.* to the network namespace; without them, the
    host's. Refused (as runc's validator does), never applied: the host's value stays as it was."""
    before = _host_sysctl(key)
    config = container.config(["true"])
    if without:
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != without]
        config.pop("hostname", None)
    config["linux"]["sysctl"] = {key: make_value(before)}
    try:
        result = attempt(container.run, config=config, timeout=DEADLINE)
        after = _host_sysctl(key)
        report(f"sysctl {key}", result)
    finally:
        if _host_sysctl(key) != before:
            _restore_sysctl(key, before)  # undo what a broken runtime did to the host
    assert after == before, f"the container set the host's {key} to {after!r} ({output_of(result)[-300:]})"
    host.assert_clean(container)


def test_namespaced_sysctl_applies_inside_only(container, host):
    """Control: kernel.shmmax belongs to the ipc namespace: applied inside (the container reads the value) and
    not on the host."""
    before = _host_sysctl("kernel.shmmax")
    value = "1073741824" if before.strip() != "1073741824" else "2147483648"
    config = container.config(["cat", "/proc/sys/kernel/shmmax"])
    config["linux"]["sysctl"] = {"kernel.shmmax": value}
    try:
        result = container.run(config=config, timeout=DEADLINE)
    finally:
        if _host_sysctl("kernel.shmmax") != before:
            _restore_sysctl("kernel.shmmax", before)
            pytest.fail("kernel.shmmax of an ipc-namespaced container reached the host")
    assert result.check().stdout.strip() == value
    host.assert_clean(container)


# ------------------------------------------------------------------------------------------ 4. mount targets

def test_mount_destination_through_a_symlink_stays_in_the_rootfs(container, canary, host, private_rootfs, workdir):
    """CVE-2021-30465 class: the rootfs holds /evil -> <a host directory>; a bind mount to /evil/x resolved on
    the host's side would create x in that host directory and mount there. Resolved inside the rootfs (or
    refused), the host directory gets neither a file nor a mount."""
    (private_rootfs / "evil").symlink_to(canary.directory)
    payload = workdir / f"payload-{secrets.token_hex(4)}"
    payload.mkdir()
    (payload / "PAYLOAD").write_text("payload\n")
    config = container.config(["sh", "-c", "ls /evil/x; cat /proc/self/mountinfo"])
    config["root"]["path"] = str(private_rootfs)
    config["mounts"].append({"destination": "/evil/x", "type": "bind", "source": str(payload),
                             "options": ["rbind", "ro"]})
    result = attempt(container.run, config=config, timeout=DEADLINE)
    report("bind mount to /evil/x", result)
    canary.assert_intact(output_of(result))
    host.assert_clean(container)


RACE_ATTEMPTS = 10
RACE_BUDGET = 45.0  # seconds: under TCG, with the racer spinning on one of two vCPUs, fewer attempts fit


def test_mount_target_swapped_for_a_symlink_during_create(container, host, private_rootfs, workdir, runtime):
    """CVE-2021-30465: a racer container keeps swapping vol/target (a volume it shares with the victims) between
    a directory and a symlink to a host path (here the host path of the victims' own /escape), while victims with
    a bind mount to /vol/target are created and deleted. A runtime that checks the path and then mounts by path
    follows the symlink on the host's side when it wins the race: the mount lands on the host path, which after
    pivot_root is the container's /escape. After each create: the payload is mounted at /vol/target, or where the
    symlink leads resolved inside the rootfs (the host path's text under the root), never on /escape; the host
    path has no mount and stays empty. The race is probabilistic (RACE_ATTEMPTS tries, fewer if they take longer
    than RACE_BUDGET); the deterministic checks of mount-target resolution are the runtime's unit tests."""
    escape = private_rootfs / "escape"
    escape.mkdir()
    volume, payload = workdir / f"vol-{secrets.token_hex(4)}", workdir / f"payload-{secrets.token_hex(4)}"
    volume.mkdir()
    payload.mkdir()
    (payload / "PAYLOAD").write_text("payload\n")
    vol_mount = {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind", "rw"]}
    racer = container.config(["timeout", "-s", "KILL", "120", "sh", "-c",
                              f"cd /vol; echo RACING; while :; do rm -rf target; mkdir target; rm -rf target; "
                              f"ln -s {escape} target; done"])
    racer["root"]["path"] = str(private_rootfs)
    racer["mounts"].append(vol_mount)
    container.start(config=racer).wait_output("RACING")
    victim = container.config(["sleep", "120"])
    victim["root"]["path"] = str(private_rootfs)
    victim["mounts"] += [vol_mount, {"destination": "/vol/target", "type": "bind", "source": str(payload),
                                     "options": ["rbind", "ro"]}]
    outcomes, budget = [], time.monotonic() + RACE_BUDGET
    while len(outcomes) < RACE_ATTEMPTS and (not outcomes or time.monotonic() < budget):
        cid = container.new_id()
        try:
            created = container.create(config=copy.deepcopy(victim), cid=cid)
        except (ContainerError, SpecError, OSError, RuntimeError) as error:
            outcomes.append(f"refused: {str(error)[-120:]}")
            assert not (runtime.state_root / cid).exists(), f"a refused create left its state entry {cid}"
        else:
            mountinfo = Path(f"/proc/{created.pid}/mountinfo").read_text()
            outcomes.append("created")
            # Inside the rootfs, the symlink's target is str(escape) under the root: a mount there is contained.
            misplaced = [line for line in mountinfo.splitlines() if line.split()[3].endswith(payload.name)
                         and line.split()[4] not in ("/vol/target", str(escape))]
            assert not misplaced, f"attempt {len(outcomes)}: the payload landed elsewhere: {misplaced}"
            assert "/escape" not in [point for _, point in mount_points(mountinfo)], \
                f"attempt {len(outcomes)}: the host path {escape} was mounted on (the container's /escape)"
            container.remove(created)
        print(f"race attempt {len(outcomes)}: {outcomes[-1]}")
        assert str(escape) not in [point for _, point in mount_points(Path("/proc/self/mountinfo").read_text())]
        assert os.listdir(escape) == [], f"the host path got {os.listdir(escape)} ({outcomes})"
    host.assert_clean(container)


# --------------------------------------------------------------------------------- 5. capability bounding set

def test_bounding_set_ignores_a_faked_cap_last_cap(container, host, workdir):
    """A runtime that reads /proc/sys/kernel/cap_last_cap after entering the container's rootfs reads what the
    image put there: a directory bound over /proc saying "1" made it drop only capabilities 0 and 1 and keep
    every other one in the bounding set. Refused (runc allows only procfs at /proc), or the init's CapBnd, read
    on the host, is exactly the configured bounding set."""
    fake = workdir / f"fakeproc-{secrets.token_hex(4)}"
    (fake / "sys" / "kernel").mkdir(parents=True)
    (fake / "sys" / "kernel" / "cap_last_cap").write_text("1\n")
    config = container.config(["sleep", "120"])
    config["mounts"] = [{"destination": "/proc", "type": "bind", "source": str(fake), "options": ["rbind", "ro"]}
                        if m["destination"] == "/proc" else m for m in config["mounts"]]
    for key in ("maskedPaths", "readonlyPaths"):
        config["linux"][key] = [p for p in config["linux"][key] if not p.startswith("/proc/")]
    running = start_unless_refused(container, host, config, "a directory over /proc")
    if running is None:
        return
    expected = sum(1 << CAPABILITIES[name] for name in config["process"]["capabilities"]["bounding"])
    assert int(status_field(running.pid, "CapBnd"), 16) == expected, \
        f"CapBnd {status_field(running.pid, 'CapBnd')} is not the configured {expected:016x}"
    host.assert_clean(container)


# ------------------------------------------------------------------------------------------- 6. uid/gid -1

@pytest.mark.parametrize("user", [{"uid": 4294967295, "gid": 4294967295}, {"uid": 1000, "gid": 4294967295}],
                         ids=["uid", "gid"])
def test_id_minus_one_never_keeps_root(container, host, user):
    """4294967295 is (uid_t)-1, which setresuid/setresgid read as "leave unchanged": a runtime passing it on
    keeps the init's root uid or gid. Refused, or the started process (its /proc status read on the host) holds
    no uid or gid 0."""
    config = container.config(["sleep", "120"])
    config["process"]["user"] = dict(user)
    running = start_unless_refused(container, host, config, f"user {user}")
    if running is None:
        return
    uids, gids = status_field(running.pid, "Uid").split(), status_field(running.pid, "Gid").split()
    assert "0" not in gids and (user["uid"] != 4294967295 or "0" not in uids), f"Uid {uids}, Gid {gids}"
    host.assert_clean(container)


# ------------------------------------------------------------------------------------ 7. exec and config.json

def test_exec_uses_the_config_as_created(container, host, runtime):
    """`exec` takes the process settings the container was created with: rewriting the bundle's config.json
    afterwards (another env, uid 1234, other args) changes nothing for it."""
    config = container.config(["sleep", "120"])
    config["process"]["env"].append("FOO=original")
    running = container.start(config=config)
    path = Path(runtime.state(running.cid)["bundle"]) / "config.json"
    edited = json.loads(path.read_text())
    edited["process"].update(env=["FOO=changed", "PATH=/bin"], user={"uid": 1234, "gid": 1234},
                             args=["sh", "-c", "echo from-the-edited-config"])
    path.write_text(json.dumps(edited))
    result = runtime.exec(running.cid, ["sh", "-c", "echo $FOO; id -u"], timeout=DEADLINE)
    assert result.check().stdout.split() == ["original", "0"]
    host.assert_clean(container)


# ------------------------------------------------------------------------------------------------ 8. devices

DEVICE_SCRIPT = r"""
probe() {  # kind major minor how: make the node, open it (r: read 16 bytes, w: open for writing, write nothing)
  rm -f /dev/kh_evil
  if ! mknod /dev/kh_evil $1 $2 $3 2>/tmp/err; then echo "$1 $2:$3 MKNOD-FAILED $(cat /tmp/err)"; return; fi
  if [ $4 = r ]; then head -c 16 /dev/kh_evil >/dev/null 2>/tmp/err; else sh -c ': > /dev/kh_evil' 2>/tmp/err; fi
  if [ $? = 0 ]; then echo "$1 $2:$3 OPENED"; else echo "$1 $2:$3 OPEN-FAILED $(cat /tmp/err)"; fi
}
probe c 1 1 r; probe c 1 11 w; probe b 8 0 r
head -c 1 /dev/zero | wc -c | sed 's/^ *1$/ZERO-OK/'
"""


def test_device_rules_deny_what_they_deny(container, host):
    """The default linux.resources.devices rule denies every device; with CAP_MKNOD in every set and /dev a
    tmpfs without nodev, the container can make device nodes, so only the device cgroup (v1 devices, or the v2
    device program) stops it opening them: EPERM at open (or at mknod) for /dev/mem (1:1), /dev/kmsg (1:11,
    opened write-only, which needs no capability) and sda (8:0). The cgroup's check comes before the driver's
    open, so an allowed but absent device says ENXIO (and /dev/mem without CAP_SYS_RAWIO EPERM: kmsg is the
    probe no capability blurs). Control: /dev/zero, on the allow list, reads."""
    config = add_capability(container.config(["sh", "-c", DEVICE_SCRIPT]), "CAP_MKNOD")
    result = container.run(config=config, timeout=DEADLINE)
    report("device nodes", result)
    lines = result.check().stdout.splitlines()
    assert "ZERO-OK" in lines, f"the control could not read /dev/zero: {lines}"
    probes = [line for line in lines if line[:2] in ("c ", "b ")]
    assert len(probes) == 3, lines
    unenforced = [line for line in probes if "OPENED" in line or "Operation not permitted" not in line]
    assert not unenforced, f"the deny-all device rule is not enforced: {unenforced}"
    host.assert_clean(container)
