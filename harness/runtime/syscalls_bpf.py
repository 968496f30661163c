"""The bpf(2) part of the syscall seam: load a program, attach it to a cgroup, query a cgroup's programs."""

import ctypes

from . import bpf
from .errors import SyscallError

_COMMAND_NAMES = {bpf.BPF_PROG_LOAD: "BPF_PROG_LOAD", bpf.BPF_PROG_ATTACH: "BPF_PROG_ATTACH",
                  bpf.BPF_PROG_QUERY: "BPF_PROG_QUERY"}
_PROG_TYPE_NAMES = {bpf.BPF_PROG_TYPE_CGROUP_DEVICE: "BPF_PROG_TYPE_CGROUP_DEVICE"}
_ATTACH_TYPE_NAMES = {bpf.BPF_CGROUP_DEVICE: "BPF_CGROUP_DEVICE"}
_ATTACH_FLAG_NAMES = {bpf.BPF_F_ALLOW_OVERRIDE: "BPF_F_ALLOW_OVERRIDE", bpf.BPF_F_ALLOW_MULTI: "BPF_F_ALLOW_MULTI"}
# Verbose enough to say which instruction the verifier refused, and why.
VERIFIER_LOG_LEVEL = 1


class _ProgLoadAttr(ctypes.Structure):
    """union bpf_attr as BPF_PROG_LOAD reads it, up to expected_attach_type (Linux 4.17)."""

    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32), ("insns", ctypes.c_uint64),
                ("license", ctypes.c_uint64), ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32), ("prog_flags", ctypes.c_uint32),
                ("prog_name", ctypes.c_char * bpf.BPF_OBJ_NAME_LEN), ("prog_ifindex", ctypes.c_uint32),
                ("expected_attach_type", ctypes.c_uint32)]


class _ProgAttachAttr(ctypes.Structure):
    """union bpf_attr as BPF_PROG_ATTACH reads it."""

    _fields_ = [(name, ctypes.c_uint32) for name in (
        "target_fd", "attach_bpf_fd", "attach_type", "attach_flags", "replace_bpf_fd")]


class _ProgQueryAttr(ctypes.Structure):
    """union bpf_attr as BPF_PROG_QUERY reads it."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32), ("query_flags", ctypes.c_uint32),
                ("attach_flags", ctypes.c_uint32), ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                ("padding", ctypes.c_uint32)]


def _named(value: int, names: dict[int, str]) -> object:
    from .syscalls import Constant  # late: syscalls imports this module
    return Constant(value, names)


class BpfSyscalls:
    """Mixed into Syscalls: each method goes through its _invoke and _raw, so the recording fake sees it."""

    def bpf_prog_load(self, prog_type: int, program: bytes, license: str, name: str = "",
                      expected_attach_type: int = 0, log_size: int = 0) -> int:
        """Load `program` (encoded instructions); returns its fd. With `log_size`, a failure's SyscallError
        carries the verifier's log in `verifier_log`."""
        arguments = (_named(bpf.BPF_PROG_LOAD, _COMMAND_NAMES), _named(prog_type, _PROG_TYPE_NAMES),
                     f"<{len(program) // bpf.INSTRUCTION_SIZE} instructions>", license, name)
        return self._invoke("bpf_prog_load", arguments, lambda: self._prog_load(
            arguments, prog_type, program, license, name, expected_attach_type, log_size))

    def _prog_load(self, arguments: tuple, prog_type: int, program: bytes, license: str, name: str,
                   expected_attach_type: int, log_size: int) -> int:
        instructions = ctypes.create_string_buffer(program, len(program))
        license_buffer = ctypes.create_string_buffer(license.encode())
        log = ctypes.create_string_buffer(log_size) if log_size else None
        attr = _ProgLoadAttr(prog_type=prog_type, insn_cnt=len(program) // bpf.INSTRUCTION_SIZE,
                             insns=ctypes.addressof(instructions), license=ctypes.addressof(license_buffer),
                             prog_name=name.encode()[:bpf.BPF_OBJ_NAME_LEN - 1],
                             expected_attach_type=expected_attach_type)
        if log is not None:
            attr.log_level, attr.log_size, attr.log_buf = VERIFIER_LOG_LEVEL, log_size, ctypes.addressof(log)
        try:
            return self._bpf("bpf", arguments, bpf.BPF_PROG_LOAD, attr)
        except SyscallError as error:
            error.verifier_log = log.value.decode(errors="replace") if log is not None else ""
            raise

    def bpf_prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
        """Attach the program `prog_fd` to the cgroup directory `target_fd`."""
        from .syscalls import Flags  # late: syscalls imports this module
        arguments = (_named(bpf.BPF_PROG_ATTACH, _COMMAND_NAMES), target_fd, prog_fd,
                     _named(attach_type, _ATTACH_TYPE_NAMES), Flags(flags, _ATTACH_FLAG_NAMES))
        attr = _ProgAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type,
                               attach_flags=flags)
        self._invoke("bpf_prog_attach", arguments, lambda: self._bpf("bpf", arguments, bpf.BPF_PROG_ATTACH, attr))

    def bpf_prog_query(self, target_fd: int, attach_type: int, capacity: int = 64) -> list[int]:
        """The ids of the programs of `attach_type` attached to the cgroup `target_fd` itself."""
        arguments = (_named(bpf.BPF_PROG_QUERY, _COMMAND_NAMES), target_fd, _named(attach_type, _ATTACH_TYPE_NAMES))
        return self._invoke("bpf_prog_query", arguments, lambda: self._prog_query(
            arguments, target_fd, attach_type, capacity))

    def _prog_query(self, arguments: tuple, target_fd: int, attach_type: int, capacity: int) -> list[int]:
        ids = (ctypes.c_uint32 * capacity)()
        attr = _ProgQueryAttr(target_fd=target_fd, attach_type=attach_type, prog_ids=ctypes.addressof(ids),
                              prog_cnt=capacity)
        self._bpf("bpf", arguments, bpf.BPF_PROG_QUERY, attr)
        return list(ids[:attr.prog_cnt])

    def _bpf(self, name: str, arguments: tuple, command: int, attr: ctypes.Structure) -> int:
        return self._raw(name, arguments, ctypes.c_int(command), ctypes.byref(attr),
                         ctypes.c_uint(ctypes.sizeof(attr)))
