"""linux.seccomp as the kernel enforces it through the runtime under test (--runtime holds runc and crun to it too):
a denied syscall fails with the profile's errno, the kill action kills, argument conditions are exact, a Docker-like
profile runs busybox, and exec'd processes get the container's filter."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

pytestmark = [pytest.mark.requires("seccomp_filter"), pytest.mark.usefixtures("plain_container_runs")]

DOCKER_LIKE = Path(__file__).parent.parent / "harness" / "runtime" / "testdata" / "docker_like_seccomp.json"
MKDIR = ["mkdir", "mkdirat"]  # busybox's mkdir(2) is either, depending on its libc


def with_profile(container, args: list[str], profile: dict) -> dict:
    config = container.config(args)
    config["linux"]["seccomp"] = profile
    return config


def allow_but(*rules: dict) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}


def test_mkdir_denied_with_eperm_by_a_one_rule_profile(container):
    """One rule, mkdir SCMP_ACT_ERRNO without errnoRet: mkdir fails with EPERM and nothing is made; the same
    command without the profile makes the directory."""
    command = ["sh", "-c", "mkdir /tmp/made; echo status=$?; ls /tmp"]
    assert container.run(command).check().stdout.split() == ["status=0", "made"]
    result = container.run(config=with_profile(container, command, allow_but(
        {"names": MKDIR, "action": "SCMP_ACT_ERRNO"}))).check()
    assert result.stdout.split() == ["status=1"] and "Operation not permitted" in result.stderr


def test_denied_syscall_gets_the_profiles_errno(container):
    """errnoRet 38: mkdir fails with ENOSYS ("Function not implemented"), and defaultErrnoRet applies to a call
    no rule names (rmdir under default ERRNO(EROFS), with everything else the shell needs allowed)."""
    result = container.run(config=with_profile(container, ["mkdir", "/tmp/x"], allow_but(
        {"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 38})))
    assert result.status == 1 and "Function not implemented" in result.stderr
    with open(DOCKER_LIKE) as source:
        profile = json.load(source)
    profile["defaultErrnoRet"] = 30  # EROFS
    profile["syscalls"][0]["names"] = [name for name in profile["syscalls"][0]["names"] if name not in ("rmdir",)]
    result = container.run(config=with_profile(container, ["sh", "-c", "mkdir /tmp/d && rmdir /tmp/d"], profile))
    assert result.status == 1 and "Read-only file system" in result.stderr


@pytest.mark.requires("SECCOMP_RET_KILL_PROCESS")
def test_kill_process_action_kills_with_sigsys(container):
    """SCMP_ACT_KILL_PROCESS on mkdir: the container's process dies of SIGSYS at that call (128+31), after what it
    printed before."""
    result = container.run(config=with_profile(container, ["sh", "-c", "echo before; exec mkdir /tmp/x"], allow_but(
        {"names": MKDIR, "action": "SCMP_ACT_KILL_PROCESS"})))
    assert result.status == 128 + signal.SIGSYS and result.stdout == "before\n"


def test_argument_conditions_are_exact(container):
    """personality denied for exactly 8 (PER_LINUX32, what `linux32` asks for) and for 2**32 (a value that only
    differs in the high half from 0, what `linux64` asks for): linux32 fails, linux64 runs."""
    profile = allow_but(
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 2**32, "op": "SCMP_CMP_EQ"}]})
    command = ["sh", "-c", "linux64 echo linux64-ran; linux32 echo linux32-ran; echo done"]
    assert container.run(command).check().stdout.split() == ["linux64-ran", "linux32-ran", "done"]
    result = container.run(config=with_profile(container, command, profile)).check()
    assert result.stdout.split() == ["linux64-ran", "done"] and "Operation not permitted" in result.stderr


def test_docker_like_profile_runs_busybox(container):
    """Under the Docker-like profile (default ERRNO, ~360 allowed names, conditional rules, x86_64/x86/x32),
    `sh -c 'echo ok; ls /'` runs to completion; an unlisted call (unshare) is still refused with EPERM."""
    with open(DOCKER_LIKE) as source:
        profile = json.load(source)
    result = container.run(config=with_profile(container, ["sh", "-c", "echo ok; ls /"], profile)).check()
    assert result.stdout.split()[0] == "ok" and "bin" in result.stdout.split()
    assert container.run(["unshare", "-U", "true"]).check()
    refused = container.run(config=with_profile(container, ["unshare", "-U", "true"], profile))
    assert refused.status != 0 and "Operation not permitted" in refused.stderr


def test_exec_gets_the_containers_filter(container, runtime):
    """A process started with `exec` in a running container is filtered like its init (runc exec does so)."""
    running = container.start(config=with_profile(container, ["sh", "-c", "echo up; exec sleep 120"], allow_but(
        {"names": MKDIR, "action": "SCMP_ACT_ERRNO"})))
    running.wait_output("up")
    result = runtime.exec(running.cid, ["mkdir", "/tmp/from-exec"])
    assert result.status == 1 and "Operation not permitted" in result.stderr
