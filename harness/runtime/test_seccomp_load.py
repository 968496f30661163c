"""Tests of loading a seccomp filter in the container's set-up, against the recording fake (no root): the syscall and
its fallback, the errors, runc's ordering around no_new_privs and capabilities, the way to the exec stub."""

import errno
import os

import pytest

from harness.runtime import constants as c
from harness.runtime import exec_stub
from harness.runtime.errors import ContainerError
from harness.runtime.process_setup import exec_process, set_up_process
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.seccomp_abi import PR_SET_SECCOMP, SECCOMP_MODE_FILTER, SECCOMP_SET_MODE_FILTER
from harness.runtime.seccomp_codegen import compile_seccomp
from harness.runtime.seccomp_load import load_filter, stub_target
from harness.runtime.spec import load_spec
from harness.runtime.spec_seccomp import parse_seccomp
from harness.runtime.test_spec import edited

ON_X86_64 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the exec stub and these numbers are x86_64's")


def compiled(raw: dict, machine: str = "x86_64"):
    return compile_seccomp(parse_seccomp(raw, "linux.seccomp"), machine)


DENY_MKDIR = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def test_load_calls_seccomp_set_mode_filter_with_the_flags():
    """One seccomp(SECCOMP_SET_MODE_FILTER, flags, program) call, the program's instruction count as argument."""
    seccomp = compiled({**DENY_MKDIR, "flags": ["SECCOMP_FILTER_FLAG_LOG"]})
    fake = RecordingSyscalls()
    load_filter(seccomp, fake)
    assert fake.calls == [("seccomp", (SECCOMP_SET_MODE_FILTER, 2, len(seccomp.program)))]


def test_without_seccomp_syscall_prctl_loads_a_flagless_filter():
    """Where seccomp(2) is ENOSYS, a filter without flags goes through prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)."""
    seccomp = compiled(DENY_MKDIR)
    fake = RecordingSyscalls()
    fake.fail("seccomp", errno.ENOSYS)
    load_filter(seccomp, fake)
    assert fake.names() == ["seccomp", "prctl_set_seccomp"]
    assert fake.arguments_of("prctl_set_seccomp") == [(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, len(seccomp.program))]


def test_failures_name_the_call_its_flags_and_errno():
    """An unsupported flag (EINVAL) fails the container, naming seccomp(...) with the flags by name and the
    instruction count; flags cannot fall back to prctl, so ENOSYS with flags fails too."""
    seccomp = compiled({**DENY_MKDIR, "flags": ["SECCOMP_FILTER_FLAG_LOG"]})
    for failure in (errno.EINVAL, errno.ENOSYS):
        fake = RecordingSyscalls()
        fake.fail("seccomp", failure)
        with pytest.raises(ContainerError, match=rf"^linux\.seccomp: seccomp\(SECCOMP_SET_MODE_FILTER, "
                                                 rf"SECCOMP_FILTER_FLAG_LOG, {len(seccomp.program)} instructions\) "
                                                 rf"failed: {errno.errorcode[failure]}"):
            load_filter(seccomp, fake)
        assert fake.names() == ["seccomp"]
    fake = RecordingSyscalls()
    fake.fail("seccomp", errno.ENOSYS)
    fake.fail("prctl_set_seccomp", errno.EACCES)
    with pytest.raises(ContainerError,
                       match=r"linux\.seccomp: prctl\w*\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, .*EACCES"):
        load_filter(compiled(DENY_MKDIR), fake)


def test_with_no_new_privileges_the_filter_comes_last(program_dir):
    """noNewPrivileges (runc's default config): set_up_process loads nothing; exec_process loads the filter right
    before the execve, after PR_SET_NO_NEW_PRIVS, so that no set-up call has to pass it."""
    spec = load_spec(edited({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"]}))
    seccomp = compiled(DENY_MKDIR)
    fake = RecordingSyscalls()
    executable = set_up_process(spec.process, fake, seccomp=seccomp)
    assert "seccomp" not in fake.names() and fake.calls[-1] == ("prctl", (c.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    exec_process(executable, spec.process, fake, seccomp=seccomp)
    assert fake.names()[-2:] == ["seccomp", "execve"]


def test_without_no_new_privileges_the_filter_comes_before_capabilities_drop(program_dir):
    """noNewPrivileges false: loading needs CAP_SYS_ADMIN, so the filter is loaded before the bounding set is
    dropped and the uid changes; exec_process does not load it again."""
    spec = load_spec(edited({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                             "process.noNewPrivileges": False}))
    seccomp = compiled(DENY_MKDIR)
    fake = RecordingSyscalls()
    executable = set_up_process(spec.process, fake, seccomp=seccomp)
    names = fake.names()
    first_drop = next(index for index, (name, arguments) in enumerate(fake.calls)
                      if name == "prctl" and arguments[0] == c.PR_CAPBSET_DROP)
    assert names.count("seccomp") == 1 and names.index("seccomp") < first_drop < names.index("setresuid")
    assert ("prctl", (c.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) not in fake.calls
    exec_process(executable, spec.process, fake, seccomp=seccomp)
    assert fake.names().count("seccomp") == 1 and fake.names()[-1] == "execve"


@ON_X86_64
def test_the_stub_is_reached_the_way_the_filter_allows(tmp_path):
    """execveat allowed: the stub's descriptor; execveat denied but execve allowed: its /proc/self/fd path; neither,
    or fcntl denied (the stub could not close the runtime's channel): a ContainerError naming the calls."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert stub_target(compiled(DENY_MKDIR), fd, 5) == fd
        no_execveat = {"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_KILL"}]}
        assert stub_target(compiled(no_execveat), fd, 5) == f"/proc/self/fd/{fd}"
        no_exec = {"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["execveat", "execve"], "action": "SCMP_ACT_ERRNO"}]}
        with pytest.raises(ContainerError, match=r"linux\.seccomp: the profile allows neither execveat nor execve"):
            stub_target(compiled(no_exec), fd, 5)
        # Only the report descriptor's FD_CLOEXEC is denied: the condition sees the very fcntl the stub makes.
        no_cloexec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
            "names": ["fcntl"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}]}
        with pytest.raises(ContainerError, match=r"does not allow fcntl\(F_SETFD\)"):
            stub_target(compiled(no_cloexec), fd, 5)
        assert stub_target(compiled(no_cloexec), fd, 6) == fd
    finally:
        os.close(fd)


@ON_X86_64
def test_exec_under_a_filter_without_execveat_runs_the_stub_by_path():
    """exec_process with a filter that kills execveat: the filter is loaded, then execve gets the stub's
    /proc/self/fd path with the stub's argv."""
    spec = load_spec(edited({"process.args": ["sh"]}))
    seccomp = compiled({"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    fake = RecordingSyscalls()
    read_end, write_end = os.pipe()
    try:
        exec_process("/bin/sh", spec.process, fake, report_fd=write_end, seccomp=seccomp)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert fake.names() == ["seccomp", "execve"]
    ((path, argv, _),) = fake.arguments_of("execve")
    assert path == f"/proc/self/fd/{exec_stub.stub_fd()}" and argv[0][0] == exec_stub.MARKER
    os.close(argv[0][1])
