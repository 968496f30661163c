"""The runc CVE classes as attacks on the runtime under test; each test asserts that the host side stays intact.

An attack may be refused (create or run raises, or the CLI exits non-zero) or fail inside the container: either
passes, as long as the host is intact: a canary file's random secret never appears in a container's output, its
content and directory are unchanged and nothing is mounted on them, host sysctls keep their values, and no
container process or state entry is left behind. The same tests hold runc and crun to it (--runtime).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from harness.containers import BundledRuntime, CliRuntime, Result, wait_for
from harness.runtime.constants import CAPABILITIES
from harness.runtime.errors import ContainerError, SpecError

CLIMB = "../" * 24  # more ".." than any path here has components: from anywhere on the host, up to its "/"
# A refusal passes these tests, so a runtime that refuses everything would pass them all: first it must run a
# plain container here.
pytestmark = pytest.mark.usefixtures("plain_container_runs")
REFUSED = -1  # Result.status of an attempt the runtime refused (create/run raised)
DEADLINE = 60.0  # seconds any single container of this module may run


# ---------------------------------------------------------------------------------------------------- helpers

def attempt(action, *args, **kwargs) -> Result:
    """Call a runtime action; a refusal (an exception from create/run, not a RecursionError) becomes a Result
    with status REFUSED and the error as stderr."""
    try:
        return action(*args, **kwargs)
    except RecursionError:
        raise
    except (ContainerError, SpecError, OSError, RuntimeError) as error:
        return Result(REFUSED, "", f"refused: {type(error).__name__}: {error}")


def start_unless_refused(container, host, config: dict, what: str):
    """The started container, or None when the runtime refused `config` (a pass: it is reported, and the host
    must be left clean)."""
    try:
        return container.start(config=config)
    except (ContainerError, SpecError, OSError, RuntimeError) as error:
        print(f"{what}: refused: {error}")
        host.assert_clean(container)
        return None


def output_of(result: Result) -> str:
    return result.stdout + result.stderr


def report(what: str, result: Result) -> None:
    """Say how an attack ended (captured by pytest: shown with -rA and kept in the JUnit XML)."""
    if result.status == REFUSED:
        print(f"{what}: {result.stderr.strip()[-400:]}")
    else:
        print(f"{what}: exit {result.status}\n  stdout: {result.stdout.strip()[-1200:]}\n"
              f"  stderr: {result.stderr.strip()[-300:]}")


def _field(pid: int | str, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise LookupError(f"/proc/{pid}/status has no {name}")


def _start_time(pid: int | str) -> str | None:
    """Field 22 of /proc/PID/stat (start time in ticks); None if the process is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def mount_points(mountinfo: str) -> list[tuple[str, str]]:
    """(root within its filesystem, mount point) of every line of a mountinfo file."""
    return [(line.split()[3], line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


def sha256(path: str) -> str:
    with open(path, "rb") as binary:
        return hashlib.file_digest(binary, "sha256").hexdigest()


def inner(runtime):
    """The runtime a --sabotage wrapper drives (or the runtime itself)."""
    return getattr(runtime, "inner", runtime)


def add_capability(config: dict, name: str) -> dict:
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        config["process"]["capabilities"].setdefault(key, [])
        if name not in config["process"]["capabilities"][key]:
            config["process"]["capabilities"][key].append(name)
    return config


# ------------------------------------------------------------------------------------- 1. leaked descriptors

def _cwd_attack(container, canary, cwd: str, pass_fds: tuple[int, ...] = ()) -> Result:
    target = f"{CLIMB}{canary.directory}"
    config = container.config(["sh", "-c", f"cat {target}/secret; echo pwn > {target}/pwned; pwd"])
    config["process"]["cwd"] = cwd
    return attempt(container.run, config=config, timeout=DEADLINE, pass_fds=pass_fds)


@pytest.mark.parametrize("number", range(3, 9))
def test_runtime_descriptor_as_cwd_leads_nowhere(container, canary, host, number):
    """CVE-2024-21626: process.cwd = /proc/self/fd/N, N a descriptor the runtime left open (runc leaked its
    /sys/fs/cgroup directory), is a host directory: `..` then walks the host's tree from there, since the kernel
    resolves `..` outside the process's root up to the real root. Refused, or no such descriptor exists."""
    result = _cwd_attack(container, canary, f"/proc/self/fd/{number}")
    report(f"cwd /proc/self/fd/{number}", result)
    canary.assert_intact(output_of(result))
    host.assert_clean(container)


def test_callers_descriptor_as_cwd_leads_nowhere(container, canary, host, runtime):
    """CVE-2024-21626 through the caller: a directory descriptor the runtime's caller leaked (inherited by a CLI
    runtime, held by the process running the library) must not become the container's cwd on the host."""
    fd = os.open(canary.directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.set_inheritable(fd, True)
        result = _cwd_attack(container, canary, f"/proc/self/fd/{fd}", pass_fds=(fd,))
    finally:
        os.close(fd)
    report(f"cwd /proc/self/fd/{fd} (the caller's)", result)
    canary.assert_intact(output_of(result))
    host.assert_clean(container)


def _created_and_sibling(container, script: str, created=None):
    """A created (never started) container, and a sibling run in its pid namespace with `script`: the
    sibling's /proc/1 is the created container's init, still waiting for start."""
    created = created or container.create(["sh", "-c", "echo EXEC-REACHED; sleep 120"])
    config = container.config(["sh", "-c", "cat /proc/1/stat; echo; " + script])
    config["linux"]["namespaces"] = [
        {"type": "pid", "path": f"/proc/{created.pid}/ns/pid"} if entry["type"] == "pid" else entry
        for entry in config["linux"]["namespaces"]]
    result = attempt(container.run, config=config, timeout=DEADLINE)
    report("sibling", result)
    if result.status != REFUSED:
        stat = result.stdout.split("\n", 1)[0]
        assert stat and stat[stat.rindex(")") + 2:].split()[19] == _start_time(created.pid), \
            f"the sibling's pid 1 is not the created container's init: {output_of(result)[-600:]}"
    return created, result


def test_sibling_cannot_reach_host_through_created_init_descriptors(container, canary, host):
    """CVE-2024-21626, second form: a container sharing the pid namespace of a created container sees its init
    (the runtime, before exec) as /proc/1: its fds, if /proc/1/fd may be followed (the init is dumpable), lead
    to runtime directories on the host. The init must be non-dumpable, or hold no such descriptor."""
    target = f"{CLIMB}{canary.directory}"
    script = (f"ls -l /proc/1/fd 2>&1; for f in /proc/1/fd/*; do cat $f/{target}/secret 2>/dev/null; "
              f"if cd $f 2>/dev/null; then echo CD-OK $f; cat {target}/secret; echo pwn > {target}/pwned; cd /; fi; "
              "done; echo SIBLING-DONE")
    created, result = _created_and_sibling(container, script)
    canary.assert_intact(output_of(result), created.output_text())
    host.assert_clean(container)


def test_sibling_cannot_start_created_container_through_its_exec_fifo(container, host, runtime):
    """The exec FIFO is the only thing between a created container and its program: a sibling in its pid
    namespace must not open it through /proc/1/fd/N (as a writer, or as the reader runc's init waits for), so
    the container stays "created" and its program never runs."""
    # ">>", not ">": an O_TRUNC open of the init's stdout (a host file) would wipe the evidence of a start.
    script = ("for f in /proc/1/fd/*; do timeout 2 sh -c \"echo 0 >> $f\" 2>/dev/null && echo WROTE $f; "
              "timeout 2 sh -c \"head -c 1 $f >/dev/null\" 2>/dev/null && echo READ $f; done; echo SIBLING-DONE")
    created = container.create(["sh", "-c", "echo EXEC-REACHED; sleep 120"])
    waiting = Path(f"/proc/{created.pid}/cmdline").read_bytes()  # the runtime's, until the container's program

    def started() -> bool:
        try:
            execed = Path(f"/proc/{created.pid}/cmdline").read_bytes() != waiting
        except OSError:
            execed = True  # gone: it ran (and ended), or died
        return execed or "EXEC-REACHED" in created.output_text()
    _, result = _created_and_sibling(container, script, created)
    deadline = time.monotonic() + 5  # a start through the FIFO execs at once: give it a bounded moment to show
    while time.monotonic() < deadline and not started():
        time.sleep(0.05)
    assert not started(), f"the sibling started the created container: {output_of(result)[-600:]}"
    assert runtime.state(created.cid)["status"] == "created"
    host.assert_clean(container)


# ------------------------------------------------------------------------------------------ 2. /proc/self/exe

def runtime_binaries(runtime) -> set[str]:
    """The host files a /proc/self/exe attack would overwrite: this interpreter (the library runtime, and the
    bundled CLI), and the runtime's binary."""
    paths = {os.path.realpath(sys.executable)}
    chosen = inner(runtime)
    if isinstance(chosen, CliRuntime):
        paths.add(os.path.realpath(shutil.which(chosen.argv[0]) or chosen.argv[0]))
    return paths


def test_sibling_cannot_write_created_init_exe(container, host, runtime):
    """CVE-2019-5736: /proc/1/exe of a created container's init is the runtime's host binary (or, fixed, a
    sealed copy); opened for writing from a sibling in its pid namespace, it would overwrite the host's binary.
    The write fails (non-dumpable init, ETXTBSY, sealed memfd) and the host binaries keep their sha256."""
    before = {path: sha256(path) for path in runtime_binaries(runtime)}
    script = ("cat /proc/1/exe >/dev/null 2>&1 && echo EXE-READ-OK || echo EXE-READ-FAILED; "
              "{ echo x >> /proc/1/exe; } 2>/dev/null && echo EXE-WRITE-OK || echo EXE-WRITE-FAILED")
    _, result = _created_and_sibling(container, script)
    assert "EXE-WRITE-OK" not in result.stdout, f"/proc/1/exe took a write: {output_of(result)[-600:]}"
    assert {path: sha256(path) for path in before} == before, "a runtime binary on the host changed"
    host.assert_clean(container)


EVIL_SCRIPT = '#!/proc/self/exe\nimport os\nprint("HOST-EXE", os.readlink("/proc/self/exe"))\n'


def test_exec_never_runs_the_runtime_binary_as_interpreter(container, host, runtime, python_in_container):
    """CVE-2019-5736 through exec: /tmp/evil starts with `#!/proc/self/exe`, so if the exec'd process's
    execve ran while /proc/self/exe was still the runtime's host interpreter, the kernel would run that host
    binary inside the container with /tmp/evil as its script (and the host's interpreter mounts make it work:
    the control shows it). The exec'd program must come from the container, never from the runtime."""
    interpreter, mounts = python_in_container
    config = container.config(["sh", "-c", 'printf "%s" "$EVIL" > /tmp/evil && chmod 755 /tmp/evil && '
                                           "echo EVIL-READY; exec sleep 120"])
    config["process"]["env"].append(f"EVIL={EVIL_SCRIPT}")
    config["mounts"].extend(mounts)
    running = container.start(config=config)
    running.wait_output("EVIL-READY")
    control = runtime.exec(running.cid, [interpreter, "/tmp/evil"], timeout=DEADLINE)
    assert "HOST-EXE" in control.stdout, f"the host's interpreter does not run in the container: {control}"
    attack = runtime.exec(running.cid, ["/tmp/evil"], timeout=DEADLINE)
    report("exec /tmp/evil", attack)
    assert "HOST-EXE" not in output_of(attack), f"the runtime's host binary ran /tmp/evil: {attack.stdout}"
    host.assert_clean(container)


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
    assert int(_field(running.pid, "CapBnd"), 16) == expected, \
        f"CapBnd {_field(running.pid, 'CapBnd')} is not the configured {expected:016x}"
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
    uids, gids = _field(running.pid, "Uid").split(), _field(running.pid, "Gid").split()
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


# --------------------------------------------------------------------------------------- 9. state and leaks

def _bundled_only(runtime) -> BundledRuntime:
    chosen = inner(runtime)
    if not isinstance(chosen, BundledRuntime):
        pytest.skip("fault injection into the bundled runtime's create")
    return chosen


def _cgroup_of(cid: str) -> Path | None:
    from harness.runtime.cgroup_config import cgroup_path
    from harness.runtime.cgroups import unified_root
    root = unified_root()
    return Path(root + cgroup_path(None, cid)) if root else None


@pytest.mark.parametrize("failing", ["every", "final"])
def test_failed_state_save_leaves_nothing(bundles, host, runtime, monkeypatch, failing):
    """ENOSPC while create writes the state (every write, or only the final "created" record): create raises,
    and no init process, cgroup or state directory is left behind."""
    from harness.runtime import api
    from harness.runtime.state import StateDir
    chosen = _bundled_only(runtime)
    real_save, seen = StateDir.save, []

    def save(self, record):
        seen.append(record.pid)
        if failing == "every" or not getattr(record, "creating", False):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(self, record)
    monkeypatch.setattr(StateDir, "save", save)
    cid = f"kh-nospace-{secrets.token_hex(4)}"
    bundle = bundles.bundle(bundles.config(["sleep", "120"]))
    with open(os.devnull, "r+b") as null, pytest.raises((OSError, ContainerError)):
        api.create(str(bundle), cid, root=str(chosen.state_root), stdin=null, stdout=null, stderr=null)
    assert not (chosen.state_root / cid).exists()
    cgroup = _cgroup_of(cid)
    assert cgroup is None or not cgroup.exists(), f"{cgroup} outlived the failed create"
    host.assert_clean()
    assert all(_start_time(pid) is None for pid in seen if pid > 0)


def test_creator_killed_before_the_state_write(bundles, host, runtime):
    """The runtime SIGKILLed between the init's "ready" and its final state write: the init exits by itself (it
    waits for a "committed" that cannot come), `list` shows the container (creating or stopped), and
    `delete --force` removes it with its cgroup and state directory."""
    from harness.runtime import api
    from harness.runtime.state import StateDir
    chosen = _bundled_only(runtime)
    root, cid = str(chosen.state_root), f"kh-orphan-{secrets.token_hex(4)}"
    bundle = bundles.bundle(bundles.config(["sleep", "120"]))
    child = os.fork()
    if child == 0:
        try:
            real_save = StateDir.save

            def die(self, record):
                if getattr(record, "creating", False):
                    return real_save(self, record)
                os.kill(os.getpid(), signal.SIGKILL)  # between "ready" and the final record
            StateDir.save = die
            with open(os.devnull, "r+b") as null:
                api.create(str(bundle), cid, root=root, stdin=null, stdout=null, stderr=null)
        finally:
            os._exit(1)

    reaped = []

    def exited():
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            reaped.append(status)
        return reaped
    try:
        status, = wait_for(exited, DEADLINE, what="the creator to die")
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"the creator exited {status}"
        record = StateDir(root).load(cid)
        wait_for(lambda: _start_time(record.pid) != str(record.start_time), DEADLINE,
                 what=f"the orphaned init {record.pid} to exit by itself")
        listed = {entry["id"]: entry["status"] for entry in api.list_containers(root)}
        assert listed.get(cid) in ("creating", "stopped"), listed
        api.delete(cid, force=True, root=root)
        assert not (chosen.state_root / cid).exists()
        cgroup = _cgroup_of(cid)
        assert cgroup is None or not cgroup.exists()
    finally:  # whatever failed above, leave neither the creator nor the container behind
        if not reaped:  # once reaped, its pid may be another process's
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        if (chosen.state_root / cid).exists():
            chosen.delete(cid, force=True)
    host.assert_clean()


# ------------------------------------------------------------------------------------------------- 10. small

BUNDLED_NAMES = ("bundled", "bundled-cli")


@pytest.mark.parametrize("cid", ["cont\u00e9", "-rf", "cgroup.procs"], ids=["non-ascii", "leading-dash",
                                                                        "interface-file"])
def test_unusual_container_ids_are_refused(container, host, runtime, cid):
    """Ids become directory names, cgroup names and command-line arguments: a non-ASCII one, one starting with "-"
    (read as an option by every tool handed it later), or one naming a cgroup interface file (the container's
    cgroup would be the parent's cgroup.procs) is refused by create with an error naming it.
    runc and crun may differ: accepting such an id is no hole in the runtime itself, so it is reported (skip)."""
    result = attempt(container.create, ["true"], cid=cid)
    foreign = inner(runtime).name not in BUNDLED_NAMES
    if not isinstance(result, Result):  # created
        container.cleanup()
        print(f"id {cid!r}: accepted")
        if foreign:
            pytest.skip(f"{runtime.name} accepts the container id {cid!r} (the bundled runtime refuses it)")
        pytest.fail(f"the id {cid!r} was accepted")
    # The runtime's own words: a CLI's output (the harness's exception names the id whatever the runtime said).
    output = container.workdir / f"{cid}.out"
    said = (output.read_text(errors="replace") if output.exists() else "").strip() or result.stderr
    print(f"id {cid!r}: {said}")
    if cid not in said and foreign:
        pytest.skip(f"{runtime.name} refuses the id {cid!r} without naming it: {said[-300:]}")
    assert cid in said, said
    assert not (runtime.state_root / cid).exists()
    host.assert_clean(container)


def test_deeply_nested_config_is_a_clear_error(container, host, runtime, bundles):
    """A config.json nested 100000 levels deep (under linux, where unknown fields go) is refused with an error,
    not a RecursionError traceback, and leaves nothing behind."""
    config = container.config(["true"])
    config["linux"]["x"] = "@DEEP@"
    bundle = bundles.bundle(config)
    depth = 100_000
    (bundle / "config.json").write_text(json.dumps(config).replace('"@DEEP@"', "[" * depth + "]" * depth))
    cid = container.new_id()
    try:
        result = attempt(runtime.run, bundle, cid, DEADLINE)
    except RecursionError as error:
        pytest.fail(f"RecursionError escaped the runtime: {str(error)[:200]}")
    finally:
        container.failed.append(cid)  # deleted at teardown if anything is left
    text = output_of(result)
    report("config nested 100000 deep", result)
    assert "Traceback" not in text and "RecursionError" not in text, text[-600:]
    if result.status == 0 and inner(runtime).name not in BUNDLED_NAMES:
        pytest.skip(f"{runtime.name} parses the nesting and ignores the unknown field (no hole)")
    assert result.status != 0 and text.strip(), f"the nested config was accepted: {text[-300:]}"
    assert not (runtime.state_root / cid).exists()
    host.assert_clean(container)
