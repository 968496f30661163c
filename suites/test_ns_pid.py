"""PID namespace: the container is PID 1 of its own namespace, blind to host pids, reaping its orphans."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.containers import wait_for


def test_container_init_is_pid_1(container):
    """Inside a new pid namespace the container's first process has pid 1."""
    assert container.run(["sh", "-c", "echo $$"]).check().stdout.strip() == "1"


def test_host_pids_are_invisible_and_unsignallable(container):
    """A host pid (this test's) is neither in the container's /proc nor reachable by kill -0."""
    me = os.getpid()
    script = f"test -e /proc/{me} && echo visible || echo hidden; kill -0 {me} 2>/dev/null && echo signalled || echo refused"
    out = container.run(["sh", "-c", script]).check().stdout.split()
    assert out == ["hidden", "refused"]


def test_container_pids_seen_from_the_host_differ(container):
    """The host sees the container's init under a host pid whose NSpid line lists both pids (host, 1)."""
    running = container.start(["sleep", "300"])
    nspid = re.search(r"^NSpid:\s+(.*)$", running.proc("status"), re.M).group(1).split()
    assert nspid[0] == str(running.pid) and nspid[-1] == "1" and len(nspid) >= 2


def test_orphans_are_reparented_to_the_namespace_init(container):
    """A grandchild whose parent exits is reparented to the container's PID 1, not the host's init."""
    script = "sh -c 'sleep 30 & echo $! > /tmp/orphan'; sleep 0.3; o=$(cat /tmp/orphan); grep PPid /proc/$o/status"
    out = container.run(["sh", "-c", script]).check().stdout
    assert re.search(r"PPid:\s+1$", out, re.M), out


def test_init_exit_kills_the_whole_namespace(container):
    """When the namespace's PID 1 dies, the kernel SIGKILLs every other process in it."""
    running = container.start(["sh", "-c", "sleep 300 & sleep 300 & echo started; wait"])
    running.wait_output("started")
    children = [int(p) for p in Path(f"/proc/{running.pid}/task/{running.pid}/children").read_text().split()]
    assert len(children) == 2
    os.kill(running.pid, 9)
    wait_for(lambda: not any(Path(f"/proc/{c}").exists() for c in children), 30, what="the sleeps to die")


def test_nested_pid_namespace(container):
    """A container with CAP_SYS_ADMIN can make a nested pid namespace whose first process is again PID 1."""
    config = container.config(["unshare", "-p", "-f", "--mount-proc", "sh", "-c", "echo $$"])
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_SYS_ADMIN")
    config["root"]["readonly"] = False  # --mount-proc remounts /proc
    result = container.run(config=config).check()
    assert result.stdout.strip() == "1"
