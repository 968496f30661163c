"""OCI hooks through the runtime under test (--runtime holds runc and crun to it too): the lifecycle order, and
which mount namespace each create-time hook runs in."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.containers import wait_for

pytestmark = [pytest.mark.usefixtures("plain_container_runs")]

PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
IN_CONTAINER = "/hooks"


@pytest.fixture
def hookdir(as_root):
    """A host directory (0755, outside every rootfs) for the hook scripts and what they log."""
    path = Path(tempfile.mkdtemp(prefix="kharness-hooks-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def hook_script(directory: Path, name: str, log: str) -> Path:
    """/bin/sh: save stdin (the state) as NAME.json beside `log`, append "NAME MOUNT-NAMESPACE" to `log`."""
    script = directory / f"{name}.sh"
    script.write_text(f"#!/bin/sh\ncat > {os.path.dirname(log)}/{name}.json\n"
                      f"echo {name} $(readlink /proc/self/ns/mnt) >> {log}\n")
    script.chmod(0o755)
    return script


def with_hooks(container, hookdir: Path, args: list[str]) -> dict:
    log = str(hookdir / "log")
    config = container.config(args)
    config["hooks"] = {kind: [{"path": str(hook_script(hookdir, kind, log)), "env": [PATH]}]
                       for kind in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    hook_script(hookdir, "startContainer", f"{IN_CONTAINER}/log")  # runs after pivot_root: a container path
    config["hooks"]["startContainer"] = [{"path": f"{IN_CONTAINER}/startContainer.sh", "env": [PATH]}]
    config["mounts"].append({"destination": IN_CONTAINER, "type": "bind", "source": str(hookdir),
                             "options": ["rbind", "rw"]})
    return config


def entries(hookdir: Path) -> list[list[str]]:
    log = hookdir / "log"
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_hooks_run_in_lifecycle_order_and_namespaces(runtime, container, hookdir):
    """prestart, createRuntime, createContainer at create; startContainer, poststart at start; poststop at delete,
    in that order. prestart, createRuntime, poststart and poststop run in the runtime's (the host's) mount
    namespace; createContainer and startContainer in the container's; the program starts after startContainer."""
    program = ["sh", "-c", f"cat {IN_CONTAINER}/log > {IN_CONTAINER}/seen; exec sleep 60"]
    running = container.create(config=with_hooks(container, hookdir, program))
    assert [entry[0] for entry in entries(hookdir)] == ["prestart", "createRuntime", "createContainer"]
    runtime.start(running.cid)
    seen = wait_for(lambda: (hookdir / "seen").exists() and (hookdir / "seen").read_text(), 60.0,
                    what="the container program's copy of the hook log")
    container_mnt = os.readlink(f"/proc/{running.pid}/ns/mnt")
    container.remove(running)  # delete --force: poststop runs
    names = [entry[0] for entry in entries(hookdir)]
    assert names == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    assert [line.split()[0] for line in seen.splitlines()][:4] == names[:4]
    namespace = {entry[0]: entry[1] for entry in entries(hookdir)}
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert namespace["prestart"] == namespace["createRuntime"] == host_mnt
    assert namespace["poststart"] == namespace["poststop"] == host_mnt
    assert namespace["createContainer"] == namespace["startContainer"] == container_mnt != host_mnt
    state = json.loads((hookdir / "createRuntime.json").read_text())
    assert (state["id"], state["pid"]) == (running.cid, running.pid)


def test_failing_create_runtime_hook_fails_create(runtime, container, hookdir):
    """A createRuntime hook exiting 1 makes create fail, and the createContainer hook never runs."""
    config = with_hooks(container, hookdir, ["true"])
    failing = hookdir / "fail.sh"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    config["hooks"]["createRuntime"].append({"path": str(failing)})
    with pytest.raises(Exception):  # noqa: B017 - each runtime words its failure its own way
        container.create(config=config)
    assert "createContainer" not in [entry[0] for entry in entries(hookdir)]
