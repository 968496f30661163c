"""Tests of the hook runner with real /bin/sh scripts: stdin, argv, env, exit status, timeout, nothing left behind."""

import json
import os
import time

import pytest

from harness.runtime.hooks import HookError, hook_state, run_hook, run_hooks, run_hooks_warning
from harness.runtime.spec_hooks import Hook

STATE = hook_state("1.2.0", "c1", "creating", 4242, "/bundles/b", {"k": "v"})


def script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def hook(path: str, **fields) -> Hook:
    return Hook(path=path, where=fields.pop("where", "hooks.createRuntime[1]"), **fields)


def test_hook_state_has_the_oci_fields():
    """The state holds ociVersion, id, status, pid, an absolute bundle and the annotations (left out when empty)."""
    assert STATE == {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 4242, "bundle": "/bundles/b",
                     "annotations": {"k": "v"}}
    assert "annotations" not in hook_state("1.2.0", "c1", "stopped", 0, "rel", {})
    assert hook_state("1.2.0", "c1", "stopped", 0, "rel")["bundle"] == os.path.join(os.getcwd(), "rel")


def test_stdin_is_the_state_json(tmp_path):
    """The hook reads the state document on its stdin, to EOF."""
    out = tmp_path / "stdin"
    run_hook(hook(script(tmp_path, "h", f"cat > {out}\n")), STATE)
    assert json.loads(out.read_text()) == STATE


def test_args_and_env_exactly_as_given(tmp_path):
    """argv is args (args[0] is argv0, not the path), and the environment is exactly env: nothing of ours."""
    out = tmp_path / "out"
    command = f'tr "\\0" "|" < /proc/$$/cmdline > {out}; echo >> {out}; env | sort >> {out}'
    os.environ["KHARNESS_TEST_LEAK"] = "1"
    try:
        run_hook(hook("/bin/sh", args=("custom-argv0", "-c", command, "one", "two words"), env=("A=1", "B=x=y")),
                 STATE)
    finally:
        del os.environ["KHARNESS_TEST_LEAK"]
    lines = out.read_text().splitlines()
    assert lines[0] == f"custom-argv0|-c|{command}|one|two words|"
    # sh itself may add PWD, SHLVL, _; none of the runtime's variables may be there.
    assert {"A=1", "B=x=y"} <= set(lines[1:]) and not [line for line in lines if "KHARNESS_TEST_LEAK" in line]


def test_without_args_argv_is_the_path(tmp_path):
    """No args: argv[0] is the hook's path, and there are no other arguments."""
    out = tmp_path / "out"
    path = script(tmp_path, "h", f'echo "$0 $#" > {out}\n')
    run_hook(hook(path), STATE)
    assert out.read_text() == f"{path} 0\n"


def test_non_zero_exit_names_the_hook_status_and_stderr(tmp_path):
    """Exit 3 raises HookError naming the JSON path, the program, the status and the end of its stderr."""
    path = script(tmp_path, "h", "echo noise; echo 'it broke' >&2; exit 3\n")
    with pytest.raises(HookError) as caught:
        run_hook(hook(path), STATE)
    assert str(caught.value) == f"hooks.createRuntime[1] ({path}): exited with status 3: it broke"


def test_death_by_signal_is_named(tmp_path):
    """A hook that dies of SIGTERM is reported as killed by that signal."""
    with pytest.raises(HookError, match=r"killed by signal 15 \(SIGTERM\)"):
        run_hook(hook(script(tmp_path, "h", "kill -TERM $$\n")), STATE)


def test_missing_program_names_the_hook(tmp_path):
    """A path that does not exist is an error naming the hook, not a traceback."""
    with pytest.raises(HookError, match=r"hooks.createRuntime\[1\] \(/nonexistent/hook\): cannot run it"):
        run_hook(hook("/nonexistent/hook"), STATE)


def test_timeout_kills_the_hook_and_its_children(tmp_path):
    """A hook still running at its timeout is SIGKILLed with every process of its group, and the error names it."""
    pids = tmp_path / "pids"
    path = script(tmp_path, "h", f"sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait\n")
    started = time.monotonic()
    with pytest.raises(HookError) as caught:
        run_hook(hook(path, timeout=1), STATE)
    assert time.monotonic() - started < 10
    assert str(caught.value) == f"hooks.createRuntime[1] ({path}): timed out after 1 s"
    for pid in map(int, pids.read_text().split()):
        assert not _alive(pid), f"process {pid} of the timed-out hook is still there"


def test_failed_hook_leaves_no_background_child(tmp_path):
    """A failing hook's background children (same process group) are killed with it."""
    pids = tmp_path / "pids"
    path = script(tmp_path, "h", f"sleep 60 & echo $! > {pids}; exit 1\n")
    with pytest.raises(HookError, match="exited with status 1"):
        run_hook(hook(path), STATE)
    assert not _alive(int(pids.read_text()))


def test_run_hooks_stops_at_the_first_failure(tmp_path):
    """run_hooks runs in order and stops at the first failure; the later hooks do not run."""
    log = tmp_path / "log"
    first = script(tmp_path, "a", f"echo a >> {log}\n")
    failing = script(tmp_path, "b", f"echo b >> {log}; exit 1\n")
    third = script(tmp_path, "c", f"echo c >> {log}\n")
    with pytest.raises(HookError, match=r"hooks.poststart\[1\]"):
        run_hooks([hook(first, where="hooks.poststart[0]"), hook(failing, where="hooks.poststart[1]"),
                   hook(third, where="hooks.poststart[2]")], STATE)
    assert log.read_text() == "a\nb\n"


def test_run_hooks_warning_runs_them_all(tmp_path, capsys):
    """run_hooks_warning turns each failure into a warning on stderr and still runs the later hooks."""
    log = tmp_path / "log"
    failing = script(tmp_path, "b", f"echo b >> {log}; exit 2\n")
    third = script(tmp_path, "c", f"echo c >> {log}\n")
    warnings = run_hooks_warning([hook(failing, where="hooks.poststop[0]"), hook(third, where="hooks.poststop[1]")],
                                 STATE)
    assert log.read_text() == "b\nc\n"
    assert len(warnings) == 1 and "hooks.poststop[0]" in warnings[0] and "exited with status 2" in warnings[0]
    assert "warning: hooks.poststop[0]" in capsys.readouterr().err


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie), waiting briefly for a SIGKILLed one to finish dying."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.02)
    return True
