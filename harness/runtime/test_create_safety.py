"""As root on the running kernel: create never leaves an unseen process behind, exec uses the config as created,
and no descriptor of the runtime's reaches a container (CVE-2024-21626, CVE-2019-5736 classes)."""

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from harness.runtime import api
from harness.runtime.errors import ContainerError
from harness.runtime.rootfs_builder import busybox_path
from harness.runtime.state import StateDir, process_start_time

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
]
DEADLINE_SECONDS = 30
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait_gone(pid: int, start_time: int) -> bool:
    """Poll until `pid` is no longer the process that started at `start_time` (or is a zombie)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = process_start_time(pid)
        if found is None or found[0] != start_time or found[1] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _run_captured(bundle: str, cid: str, root: str) -> tuple[int, str]:
    with tempfile.TemporaryFile() as out, open(os.devnull, "rb") as null:
        status = api.run(bundle, cid, root=root, stdin=null, stdout=out, stderr=out)
        out.seek(0)
        return status, out.read().decode(errors="replace")


def test_failed_state_save_leaves_no_process(make_bundle, state_root, monkeypatch):
    """ENOSPC on the final state write: create raises it, the init is killed and reaped, no state dir is left."""
    forked = []
    real_save = StateDir.save

    def save(self, record):
        if not record.creating:
            raise OSError(errno.ENOSPC, "No space left on device")
        forked.append((record.pid, record.start_time))
        real_save(self, record)
    monkeypatch.setattr(StateDir, "save", save)
    with pytest.raises(OSError, match="No space left"):
        api.create(make_bundle(["sleep", "30"]), "nospace", root=state_root)
    (pid, start_time), = forked
    assert _wait_gone(pid, start_time), f"the init {pid} outlived its failed create"
    assert not os.path.exists(os.path.join(state_root, "nospace"))


def test_creator_killed_before_recording_leaves_nothing_unseen(make_bundle, state_root):
    """The runtime SIGKILLed between the init's "ready" and the state write: the init exits by itself (it watches
    its creator's end of the channel), `list` shows the container, and `delete --force` removes it."""
    bundle = make_bundle(["sleep", "30"])
    pid = os.fork()
    if pid == 0:
        try:
            def die(self, record):
                if record.creating:
                    StateDir.save.__wrapped__(self, record)
                else:
                    os.kill(os.getpid(), signal.SIGKILL)  # the moment between "ready" and the final record
            die.__wrapped__ = StateDir.save
            StateDir.save = die
            api.create(bundle, "orphan", root=state_root)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    record = StateDir(state_root).load("orphan")
    assert record.creating and record.pid > 0
    assert _wait_gone(record.pid, record.start_time), "the init waited for a start that nobody could give"
    listed = {entry["id"]: entry["status"] for entry in api.list_containers(state_root)}
    assert listed == {"orphan": "stopped"}
    api.delete("orphan", force=True, root=state_root)
    assert api.list_containers(state_root) == []


def test_exec_uses_the_config_as_created(make_bundle, state_root):
    """Rewriting the bundle's config.json after create changes nothing for exec: env and user are the create's."""
    def with_env(config):
        config["process"]["env"].append("FOO=original")
    bundle = make_bundle(["sleep", "30"], with_env)
    api.create(bundle, "frozen", root=state_root)
    try:
        api.start("frozen", root=state_root)
        path = os.path.join(bundle, "config.json")
        config = json.load(open(path))
        config["process"]["env"] = ["FOO=changed", "PATH=/bin"]
        config["process"]["user"] = {"uid": 1234, "gid": 1234}
        with open(path, "w") as config_file:
            json.dump(config, config_file)
        read_end, write_end = os.pipe()
        saved = os.dup(1)
        try:
            os.dup2(write_end, 1)
            status = api.exec_in("frozen", ["sh", "-c", "echo $FOO $(id -u)"], root=state_root)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(write_end)
        with os.fdopen(read_end) as output:
            assert (status, output.read()) == (0, "original 0\n")
    finally:
        api.delete("frozen", force=True, root=state_root)


def test_no_runtime_descriptor_is_a_working_directory(make_bundle, state_root):
    """cwd /proc/self/fd/N for the first descriptors and for a directory the caller holds open: refused or
    unusable, and the host directory behind it is neither read nor written."""
    canary = tempfile.TemporaryDirectory(prefix="kharness-canary-")
    tmp_path = canary.name
    with open(os.path.join(tmp_path, "secret"), "w") as secret:
        secret.write("CANARY-7f3a")
    held = os.open(tmp_path, os.O_RDONLY)
    os.set_inheritable(held, True)
    climb = "../" * 16
    try:
        for number in sorted({3, 4, 5, 6, 7, 8, held}):
            def with_cwd(config, number=number):
                config["process"]["cwd"] = f"/proc/self/fd/{number}"
            bundle = make_bundle(["sh", "-c", f"cat {climb}{tmp_path}/secret; echo x > {climb}{tmp_path}/pwned"],
                                 with_cwd)
            try:
                status, output = _run_captured(bundle, f"cwd{number}", state_root)
            except ContainerError as error:
                assert "process.cwd" in str(error)
                continue
            assert "CANARY-7f3a" not in output and status != 0
        assert sorted(os.listdir(tmp_path)) == ["secret"]
    finally:
        os.close(held)
        canary.cleanup()


def test_preserved_descriptor_reaches_the_container(make_bundle, state_root, tmp_path):
    """`run --preserve-fds 1`: descriptor 3 of the caller (a shell's `3<file`) is open in the container, and no
    descriptor of the runtime's own is (only ls's own /proc/self/fd listing above it)."""
    (tmp_path / "passed").write_text("through fd 3\n")
    bundle = make_bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"])
    command = (f"exec 3<{tmp_path}/passed; exec {sys.executable} -m harness.runtime --root {state_root} "
               f"run --preserve-fds 1 --bundle {bundle} preserve")
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=DEADLINE_SECONDS,
                            env=dict(os.environ, PYTHONPATH=REPOSITORY))
    assert (result.returncode, result.stdout) == (0, "through fd 3\n0 1 2 3 4 "), result.stderr
