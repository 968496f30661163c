"""A tiny eBPF interpreter with the verifier's structural checks, to run device programs in tests."""

import struct

from . import bpf
from .bpf import Insn, decode

MAX_INSTRUCTIONS = 4096  # BPF_MAXINSNS: the verifier's limit for unprivileged loaders, ample here
_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1
_CTX_SIZE = 12  # struct bpf_cgroup_dev_ctx


class BpfProgramError(ValueError):
    """The program would not pass the kernel's verifier, or does something this interpreter does not model."""


class _Context:
    """The ctx pointer in R1: only loads from it are allowed, like the verifier's PTR_TO_CTX."""


CONTEXT = _Context()


def check_structure(instructions: list[Insn]) -> None:
    """The verifier's control-flow checks: size, jumps in range and forward, every instruction reachable, no
    fall-through past the end."""
    if not instructions or len(instructions) > MAX_INSTRUCTIONS:
        raise BpfProgramError(f"a program has 1 to {MAX_INSTRUCTIONS} instructions, got {len(instructions)}")
    reachable, pending = set(), [0]
    while pending:
        pc = pending.pop()
        if pc in reachable:
            continue
        if not 0 <= pc < len(instructions):
            raise BpfProgramError(f"control flow reaches instruction {pc}, outside the program")
        reachable.add(pc)
        insn = instructions[pc]
        if insn.code == bpf.BPF_JMP | bpf.BPF_EXIT:
            continue
        if insn.code & 0x07 == bpf.BPF_JMP:
            if insn.off < 0:
                raise BpfProgramError(f"backward jump at instruction {pc}")
            pending.append(pc + 1 + insn.off)
            if insn.code & 0xF0 == bpf.BPF_JA:
                continue
        pending.append(pc + 1)
    unreachable = sorted(set(range(len(instructions))) - reachable)
    if unreachable:
        raise BpfProgramError(f"unreachable instructions {unreachable}")


def run(program: bytes, device_type: int, major: int, minor: int, access: int) -> int:
    """Run `program` on a struct bpf_cgroup_dev_ctx built from the arguments; returns R0 at exit."""
    instructions = decode(program)
    check_structure(instructions)
    ctx = struct.pack("<III", device_type | access << 16, major, minor)
    registers: dict[int, object] = {1: CONTEXT}  # R10 (the frame pointer) is never used by our programs
    pc = 0
    while True:
        insn = instructions[pc]
        pc += 1
        code = insn.code
        if code == bpf.BPF_LDX | bpf.BPF_MEM | bpf.BPF_W:
            if _read(registers, insn.src, pc) is not CONTEXT or insn.off % 4 or not 0 <= insn.off <= _CTX_SIZE - 4:
                raise BpfProgramError(f"instruction {pc - 1}: a word load must read the ctx at 0, 4 or 8")
            registers[insn.dst] = struct.unpack_from("<I", ctx, insn.off)[0]
        elif code & 0x07 == bpf.BPF_ALU:
            registers[insn.dst] = _alu32(insn, registers, pc)
        elif code == bpf.BPF_JMP | bpf.BPF_EXIT:
            result = _read(registers, 0, pc)
            if result not in (0, 1):
                raise BpfProgramError(f"a device program returns 0 or 1, this one {result}")
            return result
        elif code & 0x07 == bpf.BPF_JMP:
            if _jump_taken(insn, registers, pc):
                pc += insn.off
        else:
            raise BpfProgramError(f"instruction {pc - 1}: opcode {code:#04x} is not modelled")


def _read(registers: dict[int, object], register: int, pc: int) -> object:
    if register not in registers:
        raise BpfProgramError(f"instruction {pc - 1} reads R{register}, which was never written (R{register} !read_ok)")
    return registers[register]


def _scalar(registers: dict[int, object], register: int, pc: int) -> int:
    value = _read(registers, register, pc)
    if value is CONTEXT:
        raise BpfProgramError(f"instruction {pc - 1} uses the ctx pointer in R{register} as a number")
    return value


def _alu32(insn: Insn, registers: dict[int, object], pc: int) -> int:
    operation, source = insn.code & 0xF0, insn.code & 0x08
    operand = _scalar(registers, insn.src, pc) & _U32 if source == bpf.BPF_X else insn.imm & _U32
    if operation == bpf.BPF_MOV:
        return operand
    value = _scalar(registers, insn.dst, pc) & _U32
    if operation == bpf.BPF_AND:
        return value & operand
    if operation == bpf.BPF_RSH:
        return value >> (operand & 31)
    raise BpfProgramError(f"instruction {pc - 1}: ALU operation {operation:#04x} is not modelled")


def _jump_taken(insn: Insn, registers: dict[int, object], pc: int) -> bool:
    operation = insn.code & 0xF0
    if operation == bpf.BPF_JA:
        return True
    left = _scalar(registers, insn.dst, pc)
    # A 64-bit comparison: the immediate is sign-extended, as the kernel does.
    right = _scalar(registers, insn.src, pc) if insn.code & 0x08 == bpf.BPF_X else insn.imm & _U64
    if operation == bpf.BPF_JEQ:
        return left == right
    if operation == bpf.BPF_JNE:
        return left != right
    raise BpfProgramError(f"instruction {pc - 1}: jump operation {operation:#04x} is not modelled")
