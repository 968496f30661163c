"""eBPF instructions (struct bpf_insn), a small assembler with labels, and the bpf(2) constants the runtime uses."""

import struct

from .record import record

# --- bpf(2) commands, program and attach types, flags (include/uapi/linux/bpf.h) ---
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_OVERRIDE = 1
BPF_F_ALLOW_MULTI = 2
BPF_OBJ_NAME_LEN = 16

# --- struct bpf_cgroup_dev_ctx: u32 access_type (type | access << 16), u32 major, u32 minor ---
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2
BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4

# --- instruction classes, sizes, modes, operations and sources (include/uapi/linux/bpf_common.h, bpf.h) ---
BPF_LDX = 0x01
BPF_ALU = 0x04  # 32-bit operations; the upper half of the destination is zeroed
BPF_JMP = 0x05  # 64-bit comparisons
BPF_W = 0x00
BPF_MEM = 0x60
BPF_AND = 0x50
BPF_RSH = 0x70
BPF_MOV = 0xB0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JNE = 0x50
BPF_EXIT = 0x90
BPF_K = 0x00
BPF_X = 0x08

R0, R1, R2, R3, R4, R5 = range(6)
INSTRUCTION_SIZE = 8
_INSN = struct.Struct("<BBhi")  # u8 code, u8 dst_reg:4 | src_reg:4 << 4, s16 off, s32 imm


@record(frozen=True)
class Insn:
    """One eBPF instruction; `target` is a label a jump goes to, resolved into `off` by Assembler.assemble."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: str | None = None

    def encode(self) -> bytes:
        return _INSN.pack(self.code, self.dst | self.src << 4, self.off, self.imm)


def decode(program: bytes) -> list[Insn]:
    """The instructions of an encoded program (the inverse of Assembler.assemble)."""
    if len(program) % INSTRUCTION_SIZE:
        raise ValueError(f"an eBPF program is a multiple of {INSTRUCTION_SIZE} bytes, got {len(program)}")
    found = []
    for offset in range(0, len(program), INSTRUCTION_SIZE):
        code, regs, off, imm = _INSN.unpack_from(program, offset)
        found.append(Insn(code, regs & 0xF, regs >> 4, off, imm))
    return found


class Assembler:
    """Collects instructions and labels; `assemble` resolves jump targets into offsets and encodes."""

    def __init__(self) -> None:
        self.instructions: list[Insn] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        """Name the next instruction."""
        if name in self.labels:
            raise ValueError(f"label {name!r} defined twice")
        self.labels[name] = len(self.instructions)

    def load_word(self, dst: int, src: int, offset: int) -> None:
        """dst = *(u32 *)(src + offset)"""
        self.instructions.append(Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, offset))

    def and_imm32(self, dst: int, imm: int) -> None:
        self.instructions.append(Insn(BPF_ALU | BPF_AND | BPF_K, dst, imm=imm))

    def rsh_imm32(self, dst: int, imm: int) -> None:
        self.instructions.append(Insn(BPF_ALU | BPF_RSH | BPF_K, dst, imm=imm))

    def mov_imm32(self, dst: int, imm: int) -> None:
        self.instructions.append(Insn(BPF_ALU | BPF_MOV | BPF_K, dst, imm=imm))

    def mov_reg32(self, dst: int, src: int) -> None:
        self.instructions.append(Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src))

    def jump_imm(self, operation: int, dst: int, imm: int, target: str) -> None:
        """if (dst <operation> imm) goto target"""
        self.instructions.append(Insn(BPF_JMP | operation | BPF_K, dst, imm=imm, target=target))

    def jump_reg(self, operation: int, dst: int, src: int, target: str) -> None:
        """if (dst <operation> src) goto target"""
        self.instructions.append(Insn(BPF_JMP | operation | BPF_X, dst, src, target=target))

    def exit(self) -> None:
        self.instructions.append(Insn(BPF_JMP | BPF_EXIT))

    def resolved(self) -> list[Insn]:
        """The instructions with every jump's offset computed (relative to the instruction after the jump)."""
        result = []
        for index, insn in enumerate(self.instructions):
            if insn.target is not None:
                if insn.target not in self.labels:
                    raise ValueError(f"jump at instruction {index} to undefined label {insn.target!r}")
                offset = self.labels[insn.target] - index - 1
                if offset < 0:
                    # Backward jumps would be loops, which the verifier of the kernels we run refuses.
                    raise ValueError(f"jump at instruction {index} to {insn.target!r} goes backwards")
                insn = Insn(insn.code, insn.dst, insn.src, offset, insn.imm)
            result.append(insn)
        return result

    def assemble(self) -> bytes:
        return b"".join(insn.encode() for insn in self.resolved())
