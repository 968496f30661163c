"""A small classic BPF interpreter with the kernel's checks of a seccomp filter, to run compiled filters in tests.

It runs the instructions seccomp filters use (libseccomp's as well as ours): 32-bit loads from struct
seccomp_data, AND with a constant, the constant jumps, BPF_JA and RET with a constant. Anything else is refused,
as the kernel refuses a filter whose last instruction is not a RET, whose jumps leave the program, or whose
loads are unaligned or outside struct seccomp_data.
"""

import struct

from . import cbpf
from .cbpf import SockFilter
from .seccomp_abi import SECCOMP_DATA

_U32 = (1 << 32) - 1
_JUMPS = {cbpf.BPF_JEQ: lambda a, k: a == k, cbpf.BPF_JGT: lambda a, k: a > k,
          cbpf.BPF_JGE: lambda a, k: a >= k, cbpf.BPF_JSET: lambda a, k: a & k != 0}
_CONDITIONAL = {cbpf.BPF_JMP | operation | cbpf.BPF_K for operation in _JUMPS}


class FilterError(ValueError):
    """The kernel would refuse this filter (EINVAL), or it uses an instruction this interpreter does not model."""


def check_filter(program: list[SockFilter]) -> None:
    """The kernel's checks (bpf_check_classic, seccomp_check_filter) for the instructions modelled here."""
    if not 1 <= len(program) <= cbpf.BPF_MAXINSNS:
        raise FilterError(f"a filter has 1 to {cbpf.BPF_MAXINSNS} instructions, this one {len(program)}")
    for pc, insn in enumerate(program):
        if insn.code == cbpf.LOAD_WORD:
            if insn.k % 4 or insn.k + 4 > SECCOMP_DATA.size:
                raise FilterError(f"instruction {pc}: load at offset {insn.k}, not an aligned word of seccomp_data")
        elif insn.code == cbpf.GOTO:
            if pc + 1 + insn.k >= len(program):
                raise FilterError(f"instruction {pc}: BPF_JA past the end of the program")
        elif insn.code in _CONDITIONAL:
            if pc + 1 + max(insn.jt, insn.jf) >= len(program):
                raise FilterError(f"instruction {pc}: conditional jump past the end of the program")
        elif insn.code not in (cbpf.AND, cbpf.RETURN):
            raise FilterError(f"instruction {pc}: opcode {insn.code:#06x} is not modelled")
    if program[-1].code != cbpf.RETURN:
        raise FilterError("the last instruction is not a RET")


def run(program: list[SockFilter], data: bytes, checked: bool = False) -> int:
    """Run a filter on a struct seccomp_data; returns its SECCOMP_RET_* value. The filter is checked first, unless
    `checked` says the caller has done so (a test running one program many times)."""
    if not checked:
        check_filter(program)
    accumulator, pc = 0, 0
    while True:
        insn = program[pc]
        pc += 1
        if insn.code == cbpf.LOAD_WORD:
            accumulator = struct.unpack_from("=I", data, insn.k)[0]
        elif insn.code == cbpf.AND:
            accumulator &= insn.k
        elif insn.code == cbpf.RETURN:
            return insn.k & _U32
        elif insn.code == cbpf.GOTO:
            pc += insn.k
        else:
            pc += insn.jt if _JUMPS[insn.code & 0xF0](accumulator, insn.k) else insn.jf
