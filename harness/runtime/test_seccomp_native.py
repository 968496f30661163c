"""Compiled filters loaded by the kernel: a forked child loads one through the real syscall seam, calls, and reports
what it saw (errno, result) or dies of it. Needs an x86_64 kernel with seccomp filters; root only where noted."""

import ctypes
import errno
import json
import os
import signal

import pytest

from harness import features
from harness.runtime import constants as c
from harness.runtime.seccomp_codegen import compile_seccomp
from harness.runtime.seccomp_load import load_filter
from harness.runtime.spec_seccomp import parse_seccomp
from harness.runtime.syscall_table import NUMBERS
from harness.runtime.syscalls import Syscalls
from harness.runtime.test_seccomp_compile import DOCKER_LIKE

pytestmark = [
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="the syscall numbers below are x86_64's"),
    pytest.mark.skipif(not features.has("seccomp_filter"), reason=features.skip_reason("seccomp_filter")),
]
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="loading a filter without no_new_privs needs CAP_SYS_ADMIN")
X86_64 = NUMBERS["SCMP_ARCH_X86_64"]
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def syscall(name_or_number, *args: int) -> str:
    """Call a syscall by name (x86_64) or number with integer arguments: "ok <result>" or "errno <N>"."""
    number = X86_64[name_or_number] if isinstance(name_or_number, str) else name_or_number
    result = _libc.syscall(ctypes.c_long(number), *(ctypes.c_ulong(arg) for arg in args))
    return f"errno {ctypes.get_errno()}" if result == -1 else f"ok {result}"


def under_filter(raw: dict, action, no_new_privs: bool = True, loader=None) -> tuple[int, str]:
    """Fork; the child sets no_new_privs (unless told not to), loads `raw` compiled, runs `action()` and writes its
    text to a pipe. Returns (wait status, text)."""
    seccomp = compile_seccomp(parse_seccomp(raw, "linux.seccomp"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read_end)
            if no_new_privs:
                Syscalls().prctl(c.PR_SET_NO_NEW_PRIVS, 1)
            (loader or load_filter)(seccomp, Syscalls())
            os.write(write_end, action().encode())
        except BaseException as error:  # the child reports and leaves, never returns into pytest
            status = 99
            try:
                os.write(write_end, f"{type(error).__name__}: {error}".encode())
            except OSError:
                pass
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 4096):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode()


def allow_all_but(*rules) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}


def test_denied_mkdir_gets_the_configured_errno(tmp_path):
    """mkdir denied with SCMP_ACT_ERRNO fails with EPERM (the default errnoRet), or with errnoRet 38 (ENOSYS),
    and the directory is not made; rmdir, not named, goes through."""
    for errno_ret, expected in ((None, errno.EPERM), (38, errno.ENOSYS)):
        target = tmp_path / f"denied-{expected}"
        entry = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                 **({"errnoRet": errno_ret} if errno_ret else {})}
        status, text = under_filter(allow_all_but(entry), lambda: _mkdir(target))
        assert (status, text) == (0, f"errno {expected}") and not target.exists()
    os.mkdir(tmp_path / "gone")
    status, text = under_filter(allow_all_but({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}),
                                lambda: syscall("rmdir", ctypes.addressof(_path(tmp_path / "gone"))))
    assert (status, text) == (0, "ok 0") and not (tmp_path / "gone").exists()


def _path(path) -> ctypes.Array:
    buffer = ctypes.create_string_buffer(os.fsencode(path))
    _KEEP.append(buffer)
    return buffer


_KEEP: list = []


def _mkdir(path) -> str:
    try:
        os.mkdir(path)
        return "made"
    except OSError as error:
        return f"errno {error.errno}"


def test_argument_conditions_are_exact_on_64_bits():
    """personality is denied for exactly 8 (PER_LINUX32) and exactly 2**32+8: the query 0xffffffff, 9, and 8 in the
    low half alone all go through. The comparison sees the whole 64-bit register."""
    rules = allow_all_but({"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
                           "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                          {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
                           "args": [{"index": 0, "value": 2**32 + 8, "op": "SCMP_CMP_EQ"}]})
    status, text = under_filter(rules, lambda: " | ".join(
        "ok" if result.startswith("ok") else result
        for result in (syscall("personality", value) for value in (0xFFFFFFFF, 8, 9, 2**32 + 8, 2**33 + 8))))
    assert (status, text) == (0, "ok | errno 13 | ok | errno 13 | ok")


def test_kill_process_kills_with_sigsys():
    """SCMP_ACT_KILL_PROCESS on getppid: the child dies of SIGSYS at that call, before writing anything."""
    status, text = under_filter(allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}),
                                lambda: syscall("getppid"))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS and text == ""


def test_default_action_applies_to_unlisted_syscalls():
    """Default SCMP_ACT_ERRNO(EACCES) with an allowlist of what the child needs to report: getppid, not listed,
    fails with EACCES; getpid, listed, works."""
    allowed = ["write", "exit_group", "exit", "getpid", "rt_sigaction", "rt_sigprocmask", "brk", "mmap", "munmap",
               "futex", "madvise"]
    raw = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EACCES,
           "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    status, text = under_filter(raw, lambda: f"{syscall('getppid')} | {syscall('getpid').split()[0]}")
    assert (status, text) == (0, f"errno {errno.EACCES} | ok")


def test_flags_reach_the_kernel():
    """A filter with SECCOMP_FILTER_FLAG_LOG, TSYNC and SPEC_ALLOW loads (this kernel knows them) and applies."""
    raw = {**allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}),
           "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}
    assert under_filter(raw, lambda: syscall("getppid")) == (0, f"errno {errno.EPERM}")


def test_prctl_loads_a_filter_too():
    """The prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) fallback, through the real seam, installs the same filter."""
    def by_prctl(seccomp, syscalls):
        from harness.runtime import cbpf
        syscalls.prctl_set_seccomp(cbpf.encode(list(seccomp.program)))
    raw = allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS})
    assert under_filter(raw, lambda: syscall("getppid"), loader=by_prctl) == (0, f"errno {errno.EROFS}")


@AS_ROOT
def test_without_no_new_privs_root_loads_with_cap_sys_admin():
    """No no_new_privs: the kernel wants CAP_SYS_ADMIN instead, which root has; the filter applies."""
    raw = allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})
    assert under_filter(raw, lambda: syscall("getppid"), no_new_privs=False) == (0, f"errno {errno.EPERM}")


def test_without_no_new_privs_or_cap_sys_admin_the_error_names_the_call():
    """Without no_new_privs and without CAP_SYS_ADMIN (the child drops it), seccomp() fails with EACCES, reported as
    linux.seccomp: seccomp(SECCOMP_SET_MODE_FILTER, 0, N instructions) failed: EACCES."""
    def drop_then_load(seccomp, syscalls):
        sets = syscalls.capget()
        cleared = ~(1 << c.CAPABILITIES["CAP_SYS_ADMIN"])
        syscalls.capset(type(sets)(sets.effective & cleared, sets.permitted & cleared, sets.inheritable & cleared))
        load_filter(seccomp, syscalls)
    raw = allow_all_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})
    status, text = under_filter(raw, lambda: "loaded", no_new_privs=False, loader=drop_then_load)
    assert status >> 8 == 99
    assert "ContainerError: linux.seccomp: seccomp(SECCOMP_SET_MODE_FILTER, 0, " in text and "EACCES" in text


def test_docker_like_profile_in_the_kernel():
    """Under the Docker-like profile: an odd personality is EPERM, clone3 is ENOSYS (Docker's rule, so that glibc
    falls back to clone), a syscall newer than every name of the profile is ENOSYS (runc's stub) while an old
    unlisted one (mount) is EPERM, and allowed calls work."""
    with open(DOCKER_LIKE) as source:
        raw = json.load(source)
    newest = max(X86_64[name] for entry in raw["syscalls"] for name in entry["names"] if name in X86_64)
    status, text = under_filter(raw, lambda: " | ".join((
        syscall("personality", 1), syscall("clone3", 0, 0), syscall(newest + 1), syscall("mount", 0, 0, 0, 0, 0),
        syscall("getpid").split()[0])))
    assert (status, text) == (0, f"errno {errno.EPERM} | errno {errno.ENOSYS} | errno {errno.ENOSYS} | "
                                 f"errno {errno.EPERM} | ok")
