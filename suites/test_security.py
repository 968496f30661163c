"""The runc CVE classes as attacks (leaked descriptors, /proc/self/exe); each test asserts that the host side stays
intact.

An attack may be refused (create or run raises, or the CLI exits non-zero) or fail inside the container: either
passes, as long as the host is intact: a canary file's random secret never appears in a container's output, its
content and directory are unchanged and nothing is mounted on them, host sysctls keep their values, and no
container process or state entry is left behind. The same tests hold runc and crun to it (--runtime).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from harness.containers import CliRuntime, Result
from suites.security_support import CLIMB, REFUSED, DEADLINE, attempt, output_of, report, start_time_of, sha256, inner

# A refusal passes these tests, so a runtime that refuses everything would pass them all: first it must run a
# plain container here.
pytestmark = pytest.mark.usefixtures("plain_container_runs")


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
        assert stat and stat[stat.rindex(")") + 2:].split()[19] == start_time_of(created.pid), \
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
