"""Installing a compiled linux.seccomp filter in a container process, and finding how its exec can get through.

The container's program is exec'd through the sealed stub of exec_stub.py: execveat(stub_fd, "", ...,
AT_EMPTY_PATH), then, in the stub, fcntl(report_fd, F_SETFD, FD_CLOEXEC) and execve(path). With the filter
loaded first, those calls must get through it. `stub_target` asks the filter itself (run on the interpreter, as
the kernel would run it) before the exec:

- execveat allowed: the stub by its descriptor, as without a filter;
- execveat denied but execve allowed (a profile from before execveat, Linux 3.19): the same stub through
  execve("/proc/self/fd/N"), which is what glibc's fexecve does where execveat is missing, so the program still
  never runs while /proc/self/exe is the runtime's interpreter (CVE-2019-5736);
- fcntl denied, or neither exec allowed (or no /proc): a ContainerError naming the call, rather than a direct
  execve without the stub, which would give the protection up, or a stub whose report descriptor (the runtime's
  channel) leaks into the container because it could not set FD_CLOEXEC.

The stub's own execve of the program is left to the filter: if the profile denies it, the stub reports the errno
(ERRNO) or the program dies of SIGSYS (KILL), as under runc.
"""

from __future__ import annotations

import errno
import fcntl
import os

from . import cbpf
from . import seccomp_abi as abi
from .cbpf_interpreter import run
from .errors import ContainerError, SyscallError
from .seccomp_codegen import SeccompFilter, compile_seccomp
from .spec_seccomp import Seccomp
from .syscall_table import NUMBERS

# Actions under which a syscall goes ahead (TRACE does not without a tracer: it fails with ENOSYS).
_PROCEEDING = (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_LOG)
_AT_EMPTY_PATH = 0x1000


def compiled_filter(seccomp: Seccomp) -> SeccompFilter:
    """linux.seccomp compiled for this machine. Call it before the container's fork: after pivot_root the child
    cannot import modules any more, and this brings the loader in with the compiler."""
    return compile_seccomp(seccomp)


def load_filter(seccomp: SeccompFilter, syscalls) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, program); prctl(PR_SET_SECCOMP) where seccomp(2) is missing and no
    flag is asked for. The calling thread needs no_new_privs or CAP_SYS_ADMIN. A flag the kernel does not know
    fails with EINVAL, as under runc (libseccomp refuses flags the kernel lacks), rather than being dropped."""
    program = cbpf.encode(list(seccomp.program))
    try:
        syscalls.seccomp(abi.SECCOMP_SET_MODE_FILTER, seccomp.flags, program)
    except SyscallError as error:
        if error.errno != errno.ENOSYS or seccomp.flags:
            raise ContainerError(f"linux.seccomp: {error}") from error
        try:
            syscalls.prctl_set_seccomp(program)
        except SyscallError as fallback:
            raise ContainerError(f"linux.seccomp: {fallback}") from fallback


def verdict(seccomp: SeccompFilter, machine: str, name: str, args: tuple[int, ...] = ()) -> int:
    """What the filter returns for syscall `name` of this machine's own architecture with `args`."""
    arch = abi.NATIVE_ARCHES[machine]
    data = abi.seccomp_data(NUMBERS[arch][name], abi.AUDIT_ARCHES[arch], args)
    return run(list(seccomp.program), data)


def stub_target(seccomp: SeccompFilter, stub_fd: int, report_fd: int, machine: str | None = None) -> int | str:
    """What to execve to start the stub under `seccomp`: `stub_fd` itself, or its /proc/self/fd path (see the
    module docstring); ContainerError when the filter lets neither through. Pointer arguments are passed as 0:
    a profile cannot sensibly test addresses."""
    machine = machine or os.uname().machine

    def proceeds(name: str, *args: int) -> bool:
        return verdict(seccomp, machine, name, args) & abi.SECCOMP_RET_ACTION_FULL in _PROCEEDING

    if not proceeds("fcntl", report_fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC):
        raise ContainerError("linux.seccomp: the profile does not allow fcntl(F_SETFD), which the runtime's exec "
                             "stub needs to close its report descriptor before the container's program runs")
    if proceeds("execveat", stub_fd, 0, 0, 0, _AT_EMPTY_PATH):
        return stub_fd
    by_path = f"/proc/self/fd/{stub_fd}"
    if proceeds("execve") and os.path.exists(by_path):
        return by_path
    raise ContainerError("linux.seccomp: the profile allows neither execveat nor execve (with /proc mounted), "
                         "which the runtime needs to exec the container's program through its sealed stub")
