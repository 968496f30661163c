"""The seccomp part of the syscall seam: install a classic BPF filter with seccomp(2), or with prctl(2)."""

import ctypes

from .seccomp_abi import FILTER_FLAG_NAMES, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, SECCOMP_SET_MODE_FILTER
from .syscall_args import Constant, Flags

# cbpf.INSTRUCTION_SIZE, spelled out: every CLI start imports the seam, and only a container with a filter needs
# the assembler.
_SOCK_FILTER_SIZE = 8
_OPERATION_NAMES = {SECCOMP_SET_MODE_FILTER: "SECCOMP_SET_MODE_FILTER"}


class _SockFprog(ctypes.Structure):
    """struct sock_fprog: the number of instructions and a pointer to them."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _size(program: bytes) -> Constant:
    """The program as an argument: its instruction count, printed as `812 instructions`."""
    count = len(program) // _SOCK_FILTER_SIZE
    return Constant(count, {count: f"{count} instructions"})


class SeccompSyscalls:
    """Mixed into Syscalls: each method goes through its _invoke and _raw, so the recording fake sees it."""

    def seccomp(self, operation: int, flags: int, program: bytes) -> int:
        """seccomp(operation, flags, &sock_fprog) with `program` (encoded struct sock_filter instructions)."""
        arguments = (Constant(operation, _OPERATION_NAMES), Flags(flags, FILTER_FLAG_NAMES), _size(program))
        return self._invoke("seccomp", arguments, lambda: self._with_fprog(program, lambda address: self._raw(
            "seccomp", arguments, ctypes.c_uint(operation), ctypes.c_uint(flags), ctypes.c_void_p(address))))

    def prctl_set_seccomp(self, program: bytes) -> None:
        """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog): the way before seccomp(2), without flags."""
        from .syscalls import _libc  # late: syscalls imports this module
        arguments = (Constant(PR_SET_SECCOMP, {PR_SET_SECCOMP: "PR_SET_SECCOMP"}),
                     Constant(SECCOMP_MODE_FILTER, {SECCOMP_MODE_FILTER: "SECCOMP_MODE_FILTER"}), _size(program))
        self._invoke("prctl_set_seccomp", arguments, lambda: self._with_fprog(program, lambda address: self._check(
            "prctl", arguments, _libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, address, 0, 0))))

    @staticmethod
    def _with_fprog(program: bytes, call):
        """Call `call(address of a struct sock_fprog)` while the program's buffer is alive."""
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len=len(program) // _SOCK_FILTER_SIZE, filter=ctypes.addressof(buffer))
        return call(ctypes.addressof(fprog))
