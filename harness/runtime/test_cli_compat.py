"""Tests of the runc-compatible CLI options orchestrators call: features, --log/--log-format, run -d, state JSON."""

import json
import os
import shutil
import subprocess

import pytest

from harness.runtime import api
from harness.runtime.cli import main
from harness.runtime.cli_log import log_line
from harness.runtime.rootfs_builder import busybox_path

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)")
needs_busybox = pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}")


def test_features_lists_what_the_runtime_implements(capsys):
    """`features` prints the runtime-spec features document: the namespaces (time included), seccomp's actions,
    operators and arches it compiles, the mount options it parses; refused options and notify are not listed."""
    assert main(["features"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ociVersionMax"] == "1.2.0"
    assert document["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                                 "poststop"]
    linux = document["linux"]
    assert {"pid", "mount", "network", "ipc", "uts", "user", "cgroup", "time"} == set(linux["namespaces"])
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"] and "SCMP_ACT_NOTIFY" not in linux["seccomp"]["actions"]
    assert "SCMP_CMP_MASKED_EQ" in linux["seccomp"]["operators"] and "SCMP_ARCH_X86_64" in linux["seccomp"]["archs"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in linux["seccomp"]["supportedFlags"]
    assert {"rbind", "ro", "nosuid", "rprivate"} <= set(document["mountOptions"])
    assert "rro" not in document["mountOptions"] and "tmpcopyup" not in document["mountOptions"]
    assert linux["capabilities"][0] == "CAP_CHOWN" and "CAP_SYS_ADMIN" in linux["capabilities"]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_log_file_gets_the_error_in_runcs_format(tmp_path, capsys, log_format):
    """With --log, an error goes to stderr and is appended to the log file as one logrus record (level error, the
    message naming the container); json is one object per line, text `time="..." level=error msg="..."`."""
    log = tmp_path / "runtime.log"
    assert main(["--root", str(tmp_path), "--log", str(log), "--log-format", log_format, "state", "ghost"]) == 1
    assert "container 'ghost' does not exist" in capsys.readouterr().err
    (line,) = log.read_text().splitlines()
    if log_format == "json":
        record = json.loads(line)
        assert record["level"] == "error" and "'ghost' does not exist" in record["msg"] and record["time"].endswith("Z")
    else:
        assert line.startswith('time="') and ' level=error msg="container \'ghost\' does not exist' in line


def test_text_log_line_quotes_the_message():
    """A message with quotes and a newline stays one text line, quoted as logrus quotes it."""
    line = log_line("warning", 'hook "x" failed\nsecond line', "text", now=0)
    assert line == 'time="1970-01-01T00:00:00Z" level=warning msg="hook \\"x\\" failed\\nsecond line"\n'


@needs_root
@needs_busybox
def test_run_detach_returns_with_the_container_running(make_bundle, state_root, tmp_path):
    """`run -d` returns 0 at once with the container running and its pid in --pid-file; `state` prints runc's keys
    in runc's order; the container is still there to kill and delete."""
    bundle = make_bundle(["sleep", "60"])
    pid_file = tmp_path / "pid"
    assert main(["--root", state_root, "run", "-d", "--bundle", bundle, "--pid-file", str(pid_file), "d1"]) == 0
    document = api.state("d1", root=state_root)
    assert document["status"] == "running" and document["pid"] == int(pid_file.read_text())
    assert list(document) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    api.delete("d1", force=True, root=state_root)
    assert not os.path.exists(f"/proc/{document['pid']}/stat") or _is_zombie_or_gone(document["pid"])


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@needs_root
@needs_busybox
def test_runc_prints_state_keys_in_the_same_order(make_bundle, state_root, tmp_path):
    """Held to runc itself where it is installed: `runc state` of a created container has the keys `state` prints,
    in the same order (annotations left out when empty)."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed")
    bundle = make_bundle(["sleep", "60"])
    root = state_root + "-runc"
    # Not through pipes: the created container holds runc's stdio, so reading them to EOF would wait for it.
    with open(tmp_path / "runc.err", "w+", encoding="utf-8") as errors:
        created = subprocess.run([runc, "--root", root, "create", "--bundle", bundle, "r1"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, timeout=60)
        errors.seek(0)
        if created.returncode != 0:
            pytest.skip(f"runc cannot create here: {errors.read().strip()[-300:]}")
    try:
        printed = subprocess.run([runc, "--root", root, "state", "r1"], capture_output=True, text=True, timeout=60)
        runc_keys = list(json.loads(printed.stdout))
    finally:
        subprocess.run([runc, "--root", root, "delete", "--force", "r1"], capture_output=True, timeout=60)
    assert main(["--root", state_root, "create", "--bundle", bundle, "b1"]) == 0
    assert list(api.state("b1", root=state_root)) == runc_keys
