"""Integration tests of OCI hooks as root: order, namespaces and failures through the CLI and the library."""

import json
import os
import time
import uuid

import pytest

from harness.runtime import api
from harness.runtime.errors import ContainerError
from harness.runtime.rootfs_builder import busybox_path
from harness.runtime.test_integration import runtime

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
]

PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
IN_CONTAINER = "/hooks"  # where the hook directory is bound in the container (startContainer runs after pivot_root)


@pytest.fixture
def hookdir(tmp_path):
    """A host directory for hook scripts and their markers, reachable by a container's root (0755 parents)."""
    base = f"/tmp/kharness-hooks-{uuid.uuid4().hex[:8]}"
    os.mkdir(base, 0o755)
    yield base
    import shutil
    shutil.rmtree(base, ignore_errors=True)


def write_hook(directory: str, name: str, body: str, log: str) -> str:
    """A /bin/sh script that logs "NAME MNT-NAMESPACE", saves its stdin to NAME.json next to `log`, then runs
    `body`."""
    path = os.path.join(directory, f"{name}.sh")
    json_path = os.path.join(os.path.dirname(log), f"{name}.json")
    with open(path, "w") as script:
        script.write(f"#!/bin/sh\ncat > {json_path}\necho {name} $(readlink /proc/self/ns/mnt) >> {log}\n{body}\n")
    os.chmod(path, 0o755)
    return path


def hooks_config(hookdir: str, fail: str = "", program: list[str] | None = None):
    """An edit of the default config: one logging hook of each kind (two poststop), the one named `fail` exiting 3,
    and hookdir bound at /hooks for the startContainer hook, which runs in the container."""
    log = os.path.join(hookdir, "log")
    kinds = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    hooks = {kind: [{"path": write_hook(hookdir, kind, "exit 3" if kind == fail else "", log), "env": [PATH]}]
             for kind in kinds}
    write_hook(hookdir, "startContainer", "exit 3" if fail == "startContainer" else "", f"{IN_CONTAINER}/log")
    hooks["startContainer"] = [{"path": f"{IN_CONTAINER}/startContainer.sh", "env": [PATH]}]
    hooks["poststop"].append({"path": write_hook(hookdir, "poststop2", "", log), "env": [PATH]})

    def edit(config):
        config["hooks"] = hooks
        config["mounts"].append({"destination": IN_CONTAINER, "type": "bind", "source": hookdir,
                                 "options": ["rbind", "rw"]})
        if program:
            config["process"]["args"] = program
    return edit


def logged(hookdir: str) -> list[list[str]]:
    path = os.path.join(hookdir, "log")
    return [line.split() for line in open(path).read().splitlines()] if os.path.exists(path) else []


def hook_input(hookdir: str, name: str) -> dict:
    with open(os.path.join(hookdir, f"{name}.json")) as state:
        return json.load(state)


def create_quietly(bundle: str, cid: str, root: str) -> None:
    """api.create with the container's output to /dev/null (a CLI `create` with captured output would wait for the
    container, which inherits the pipes)."""
    with open(os.devnull, "w") as null:
        api.create(bundle, cid, root=root, stdout=null, stderr=null)


def wait_for_file(path: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and open(path).read():
            return open(path).read()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def test_hooks_run_in_order_and_in_the_right_namespaces(make_bundle, state_root, hookdir):
    """Created by the library, then started and deleted by separate CLI processes: prestart, createRuntime,
    createContainer, startContainer, poststart, poststop run in that order; prestart and createRuntime in the host's
    mount namespace, createContainer and startContainer in the container's; each reads the state with its status;
    the program sees every hook before it ran (startContainer included)."""
    program = ["sh", "-c", f"cat {IN_CONTAINER}/log > {IN_CONTAINER}/seen; exec sleep 30"]
    bundle = make_bundle(["true"], hooks_config(hookdir, program=program))
    cid = f"h-{uuid.uuid4().hex[:8]}"
    create_quietly(bundle, cid, state_root)
    assert [entry[0] for entry in logged(hookdir)] == ["prestart", "createRuntime", "createContainer"]
    started = runtime("start", cid, root=state_root)
    assert started.returncode == 0, started.stderr
    seen = wait_for_file(os.path.join(hookdir, "seen"))
    pid = api.state(cid, root=state_root)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    runtime("kill", cid, "KILL", root=state_root)
    deleted = runtime("delete", "--force", cid, root=state_root)
    assert deleted.returncode == 0, deleted.stderr
    entries = logged(hookdir)
    assert [entry[0] for entry in entries] == ["prestart", "createRuntime", "createContainer", "startContainer",
                                               "poststart", "poststop", "poststop2"]
    assert [line.split()[0] for line in seen.splitlines()] == ["prestart", "createRuntime",
                                                               "createContainer", "startContainer"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    namespaces = {entry[0]: entry[1] for entry in entries}
    assert namespaces["prestart"] == namespaces["createRuntime"] == host_mnt
    assert namespaces["createContainer"] == namespaces["startContainer"] == container_mnt != host_mnt
    assert namespaces["poststart"] == namespaces["poststop"] == host_mnt
    statuses = {name: hook_input(hookdir, name)["status"] for name in namespaces}
    assert statuses == {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                        "startContainer": "created", "poststart": "running", "poststop": "stopped",
                        "poststop2": "stopped"}
    state = hook_input(hookdir, "createRuntime")
    assert (state["id"], state["pid"], state["bundle"]) == (cid, pid, bundle)


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create_and_leaves_nothing(make_bundle, state_root, hookdir, kind):
    """A create-time hook exiting 3: create fails naming the hook and its status; no state dir, the init (whose pid
    the hook read) is gone, and the later hooks did not run."""
    cid = f"h-{uuid.uuid4().hex[:8]}"
    result = runtime("create", "--bundle", make_bundle(["true"], hooks_config(hookdir, fail=kind)), cid,
                     root=state_root)
    assert result.returncode != 0
    assert f"hooks.{kind}[0]" in result.stderr and "exited with status 3" in result.stderr, result.stderr
    assert not os.path.exists(os.path.join(state_root, cid))
    pid = hook_input(hookdir, kind)["pid"]
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] in "ZX"
    order = ["prestart", "createRuntime", "createContainer"]
    assert [entry[0] for entry in logged(hookdir)] == order[:order.index(kind) + 1]


def test_failing_start_container_hook_fails_start_from_another_process(make_bundle, state_root, hookdir):
    """A startContainer hook exiting 3, with create and start in separate processes: start fails naming the hook,
    the program never runs, the container is stopped, and delete (with poststop) still works."""
    marker = os.path.join(hookdir, "program-ran")
    bundle = make_bundle(["true"], hooks_config(hookdir, fail="startContainer",
                                                program=["touch", f"{IN_CONTAINER}/program-ran"]))
    cid = f"h-{uuid.uuid4().hex[:8]}"
    create_quietly(bundle, cid, state_root)
    started = runtime("start", cid, root=state_root)
    assert started.returncode != 0
    assert "hooks.startContainer[0] (/hooks/startContainer.sh): exited with status 3" in started.stderr
    assert not os.path.exists(marker)
    assert api.state(cid, root=state_root)["status"] == "stopped"
    assert runtime("delete", cid, root=state_root).returncode == 0
    assert [entry[0] for entry in logged(hookdir)][-3:] == ["startContainer", "poststop", "poststop2"]


def test_failing_start_container_hook_fails_start_in_the_library(make_bundle, state_root, hookdir):
    """Through the library in one process: api.start raises the hook's error and poststart does not run."""
    bundle = make_bundle(["true"], hooks_config(hookdir, fail="startContainer"))
    api.create(bundle, "lib-start", root=state_root)
    with pytest.raises(ContainerError, match=r"hooks.startContainer\[0\].*exited with status 3"):
        api.start("lib-start", root=state_root)
    api.delete("lib-start", force=True, root=state_root)
    assert "poststart" not in [entry[0] for entry in logged(hookdir)]


@pytest.mark.parametrize("kind", ["poststart", "poststop"])
def test_failing_poststart_or_poststop_only_warns(make_bundle, state_root, hookdir, kind):
    """A poststart or poststop hook exiting 3 is a warning on stderr: `run` still exits with the program's status
    and the later hooks (poststop, the second poststop) still run."""
    result = runtime("run", "--bundle", make_bundle(["true"], hooks_config(hookdir, fail=kind)),
                     f"h-{uuid.uuid4().hex[:8]}", root=state_root)
    assert result.returncode == 0, result.stderr
    assert f"warning: hooks.{kind}[0]" in result.stderr and "exited with status 3" in result.stderr
    assert [entry[0] for entry in logged(hookdir)][-3:] == ["poststart", "poststop", "poststop2"]
    assert api.list_containers(state_root) == []


def test_config_without_hooks_makes_no_start_fifo(make_bundle, state_root):
    """A config without hooks gets no start.fifo and no hooks flag: it pays nothing for hooks."""
    api.create(make_bundle(["true"]), "plain", root=state_root)
    try:
        assert not os.path.exists(os.path.join(state_root, "plain", "start.fifo"))
        with open(os.path.join(state_root, "plain", "state.json")) as state:
            assert json.load(state)["hooks"] is False
    finally:
        api.delete("plain", force=True, root=state_root)
