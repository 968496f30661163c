"""The runc CVE classes as attacks (state and leaks, ids, nesting); each test asserts that the host side stays
intact.

An attack may be refused (create or run raises, or the CLI exits non-zero) or fail inside the container: either
passes, as long as the host is intact: a canary file's random secret never appears in a container's output, its
content and directory are unchanged and nothing is mounted on them, host sysctls keep their values, and no
container process or state entry is left behind. The same tests hold runc and crun to it (--runtime).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
from pathlib import Path

import pytest

from harness.containers import BundledRuntime, Result, wait_for
from harness.runtime.errors import ContainerError
from suites.security_support import DEADLINE, attempt, output_of, report, start_time_of, inner

# A refusal passes these tests, so a runtime that refuses everything would pass them all: first it must run a
# plain container here.
pytestmark = pytest.mark.usefixtures("plain_container_runs")


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
    assert all(start_time_of(pid) is None for pid in seen if pid > 0)


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
        wait_for(lambda: start_time_of(record.pid) != str(record.start_time), DEADLINE,
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
