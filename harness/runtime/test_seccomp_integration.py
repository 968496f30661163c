"""As root on the running kernel: busybox containers with linux.seccomp, through the runtime's CLI and library."""

import json
import os
import signal

import pytest

from harness.runtime import api
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.test_integration import pytestmark as integration_marks
from harness.runtime.test_integration import run_container, runtime
from harness.runtime.test_seccomp_compile import DOCKER_LIKE

pytestmark = [*integration_marks,
              pytest.mark.skipif(os.uname().machine != "x86_64", reason="seccomp tables: x86_64 and aarch64; the "
                                                                          "exec stub: x86_64")]
DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def with_seccomp(profile: dict, **process):
    """An edit of the default config: `profile` as linux.seccomp, and these process fields."""
    def edit(config):
        config["linux"]["seccomp"] = profile
        config["process"].update(process)
    return edit


def docker_like() -> dict:
    with open(DOCKER_LIKE) as source:
        return json.load(source)


@pytest.mark.parametrize("no_new_privileges", [True, False], ids=["nnp", "no-nnp"])
def test_busybox_runs_under_the_docker_like_profile(make_bundle, state_root, no_new_privileges):
    """`sh -c 'echo ok; ls /'` runs to completion under the Docker-like profile, loaded just before the exec
    (noNewPrivileges) or before the capabilities are dropped (without it, where the runtime's own set-up runs
    under the filter too)."""
    result = run_container(make_bundle, state_root, ["sh", "-c", "echo ok; ls /"],
                           with_seccomp(docker_like(), noNewPrivileges=no_new_privileges))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "ok" and "bin" in result.stdout.split()


def test_the_docker_like_profile_denies_what_it_does_not_list(make_bundle, state_root):
    """Inside that container, an unlisted call fails: busybox's `mount` gets EPERM from the filter, though with
    CAP_SYS_ADMIN the container could otherwise mount a tmpfs (control: the same command without the profile)."""
    def sys_admin(config):
        for kind in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][kind].append("CAP_SYS_ADMIN")
    command = ["sh", "-c", "mount -t tmpfs none /tmp && echo mounted"]
    control = run_container(make_bundle, state_root, command, sys_admin)
    assert control.returncode == 0 and "mounted" in control.stdout, control.stderr
    denied = run_container(make_bundle, state_root, command,
                           lambda config: (sys_admin(config), with_seccomp(docker_like())(config)))
    # EPERM, which busybox's mount words "permission denied (are you root?)"
    assert denied.returncode != 0 and "permission denied" in denied.stderr and "mounted" not in denied.stdout


@pytest.mark.parametrize("errno_ret, message", [(None, "Operation not permitted"), (38, "Function not implemented")])
def test_denied_mkdir_gets_the_errno(make_bundle, state_root, errno_ret, message):
    """A one-rule profile (mkdir, ERRNO): mkdir in the container's writable /dev/shm fails with EPERM, or with the
    rule's errnoRet; the same command without the profile succeeds."""
    command = ["sh", "-c", "mkdir /dev/shm/made && echo made"]
    assert run_container(make_bundle, state_root, command).stdout == "made\n"
    rule = {**DENY_MKDIR["syscalls"][0], **({"errnoRet": errno_ret} if errno_ret else {})}
    result = run_container(make_bundle, state_root, command, with_seccomp({**DENY_MKDIR, "syscalls": [rule]}))
    assert result.returncode == 1 and message in result.stderr and result.stdout == ""


def test_kill_process_action_kills_the_container(make_bundle, state_root):
    """SCMP_ACT_KILL_PROCESS on mkdir: the container's process (the shell, which exec'd mkdir) dies of SIGSYS at
    that call, and `run` exits 128+31."""
    kill = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    result = run_container(make_bundle, state_root, ["sh", "-c", "echo before; exec mkdir /dev/shm/x"],
                           with_seccomp(kill))
    assert result.returncode == 128 + signal.SIGSYS and result.stdout == "before\n"


def test_exec_gets_the_containers_filter(make_bundle, state_root):
    """A process started by `exec` in a running container is under its filter too, as with runc exec."""
    api.create(make_bundle(["sleep", "30"], with_seccomp(DENY_MKDIR)), "filtered", root=state_root)
    try:
        api.start("filtered", root=state_root)
        result = runtime("exec", "filtered", "sh", "-c", "mkdir /dev/shm/x", root=state_root)
        assert result.returncode == 1 and "Operation not permitted" in result.stderr
        assert runtime("exec", "filtered", "true", root=state_root).returncode == 0
    finally:
        api.delete("filtered", force=True, root=state_root)


def test_a_profile_without_execveat_still_execs_through_the_stub(make_bundle, state_root):
    """execveat killed by the profile: the runtime reaches its sealed stub by /proc/self/fd instead, and the
    container's program runs; it sees its own /proc/self/exe, not the runtime's."""
    no_execveat = {"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    result = run_container(make_bundle, state_root, ["readlink", "/proc/self/exe"], with_seccomp(no_execveat))
    assert (result.returncode, result.stdout) == (0, "/bin/busybox\n"), result.stderr


def test_a_profile_the_exec_cannot_pass_is_a_clear_error(make_bundle, state_root):
    """Denying fcntl (which the stub needs to close the runtime's channel) fails `create` with an error naming
    linux.seccomp and fcntl, and leaves no container behind."""
    no_fcntl = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["fcntl"], "action": "SCMP_ACT_ERRNO"}]}
    with pytest.raises(ContainerError, match=r"linux\.seccomp: the profile does not allow fcntl"):
        api.create(make_bundle(["true"], with_seccomp(no_fcntl)), "no-fcntl", root=state_root)
    assert api.list_containers(state_root) == []


def test_an_invalid_profile_fails_create_naming_the_field(make_bundle, state_root):
    """An errnoRet on SCMP_ACT_KILL fails `create` before any process exists, naming the JSON path."""
    bad = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL",
                                                            "errnoRet": 1}]}
    with pytest.raises(SpecError, match=r"linux\.seccomp\.syscalls\[0\]\.errnoRet"):
        api.create(make_bundle(["true"], with_seccomp(bad)), "invalid", root=state_root)
    assert api.list_containers(state_root) == []
