"""libseccomp through ctypes, as the tests' oracle for syscall numbers and filters; the runtime never uses it.

Where libseccomp.so.2 is missing (it comes with runc and crun), `load()` returns None and the tests skip.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os

from . import cbpf
from .cbpf import SockFilter
from .seccomp_abi import AUDIT_ARCHES

# libseccomp's architecture tokens are AUDIT_ARCH values, but for x32's: EM_X86_64 | __AUDIT_ARCH_LE.
TOKENS = {**AUDIT_ARCHES, "SCMP_ARCH_X32": 0x4000003E}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
             "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# What seccomp_syscall_resolve_name_arch returns for a name it does not know at all.
NR_SCMP_ERROR = -1


class _Comparison(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class LibSeccomp:
    """The few calls the tests need: resolve names and numbers, build a filter, export its BPF."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.lib = library
        library.seccomp_init.restype = ctypes.c_void_p
        library.seccomp_init.argtypes = [ctypes.c_uint32]
        library.seccomp_release.argtypes = [ctypes.c_void_p]
        library.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        library.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                                   ctypes.POINTER(_Comparison)]
        library.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        library.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        library.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
        library.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
        library.seccomp_version.restype = ctypes.POINTER(_Version)
        library.free = ctypes.CDLL(None).free
        library.free.argtypes = [ctypes.c_void_p]

    def version(self) -> tuple[int, int, int]:
        found = self.lib.seccomp_version().contents
        return found.major, found.minor, found.micro

    def number(self, arch: str, name: str) -> int:
        """libseccomp's number for `name` on `arch` (x32's with its bit; negative: not a syscall there)."""
        return self.lib.seccomp_syscall_resolve_name_arch(TOKENS[arch], name.encode())

    def native_number(self, name: str) -> int:
        """What runc gets from GetSyscallFromName: the native number, or a negative pseudo number."""
        return self.lib.seccomp_syscall_resolve_name(name.encode())

    def name(self, arch: str, number: int) -> str | None:
        pointer = self.lib.seccomp_syscall_resolve_num_arch(TOKENS[arch], number)
        if not pointer:
            return None
        try:
            return ctypes.string_at(pointer).decode()
        finally:
            self.lib.free(pointer)

    def filter(self, default_action: int, arches: tuple[str, ...],
               rules: list[tuple[int, int, list[tuple[int, str, int, int]]]]) -> list[SockFilter] | None:
        """The program libseccomp makes, as runc drives it: seccomp_init, seccomp_arch_add per architecture, one
        seccomp_rule_add_array per (action, number, [(index, op, datum_a, datum_b)]). None when libseccomp
        refuses a rule (runc would fail the container then)."""
        context = self.lib.seccomp_init(default_action)
        try:
            for arch in arches:
                result = self.lib.seccomp_arch_add(context, TOKENS[arch])
                if result not in (0, -errno.EEXIST):
                    raise OSError(-result, f"seccomp_arch_add({arch})")
            for action, number, conditions in rules:
                array = (_Comparison * max(1, len(conditions)))(
                    *(_Comparison(index, OPERATORS[op], a, b) for index, op, a, b in conditions))
                if self.lib.seccomp_rule_add_array(context, action, number, len(conditions), array) < 0:
                    return None
            return self._export(context)
        finally:
            self.lib.seccomp_release(context)

    def _export(self, context: int) -> list[SockFilter]:
        read_end, write_end = os.pipe()
        try:
            result = self.lib.seccomp_export_bpf(context, write_end)
            os.close(write_end)
            write_end = -1
            if result < 0:
                raise OSError(-result, "seccomp_export_bpf")
            data = b""
            while chunk := os.read(read_end, 1 << 16):
                data += chunk
            return cbpf.decode(data)
        finally:
            os.close(read_end)
            if write_end != -1:
                os.close(write_end)


@functools.cache
def load() -> LibSeccomp | None:
    """libseccomp.so.2, or None where it is not installed."""
    try:
        return LibSeccomp(ctypes.CDLL("libseccomp.so.2"))
    except OSError:
        return None
