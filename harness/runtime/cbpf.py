"""Classic BPF (struct sock_filter), as seccomp runs it: the opcodes, and an assembler with labels and far jumps.

A conditional jump's targets are 8-bit offsets (at most 255 instructions ahead); BPF_JA's is 32 bits. The
assembler lays the program out with every conditional jump short, then rewrites each one whose target is too
far into a short jump to a BPF_JA next to it, and repeats until nothing is out of reach.
"""

import struct

from .record import record

# --- instruction classes, sizes, modes, operations, sources (include/uapi/linux/bpf_common.h) ---
BPF_LD = 0x00
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_W = 0x00
BPF_ABS = 0x20
BPF_AND = 0x50
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_K = 0x00

LOAD_WORD = BPF_LD | BPF_W | BPF_ABS
AND = BPF_ALU | BPF_AND | BPF_K
GOTO = BPF_JMP | BPF_JA
RETURN = BPF_RET | BPF_K
BPF_MAXINSNS = 4096
MAX_SHORT_JUMP = 255
_SOCK_FILTER = struct.Struct("=HBBI")  # u16 code, u8 jt, u8 jf, u32 k
INSTRUCTION_SIZE = _SOCK_FILTER.size


@record(frozen=True)
class SockFilter:
    """One instruction: a conditional jump goes to pc+1+jt when true, pc+1+jf when false."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0


def encode(program: list[SockFilter]) -> bytes:
    """The program as the kernel reads it: an array of struct sock_filter in native byte order."""
    return b"".join(_SOCK_FILTER.pack(insn.code, insn.jt, insn.jf, insn.k) for insn in program)


def decode(data: bytes) -> list[SockFilter]:
    """The instructions of an encoded program (the inverse of `encode`)."""
    if len(data) % INSTRUCTION_SIZE:
        raise ValueError(f"a classic BPF program is a multiple of {INSTRUCTION_SIZE} bytes, got {len(data)}")
    return [SockFilter(*_SOCK_FILTER.unpack_from(data, offset)) for offset in range(0, len(data), INSTRUCTION_SIZE)]


class _Jump:
    """A conditional jump before layout: targets are label names, None meaning the instruction after it."""

    __slots__ = ("code", "k", "true", "false", "far")

    def __init__(self, code: int, k: int, true: str | None, false: str | None) -> None:
        self.code, self.k, self.true, self.false = code, k, true, false
        self.far = [False, False]  # whether the true / false target is reached through a BPF_JA

    def size(self) -> int:
        return 1 + sum(self.far)


class Assembler:
    """Collects instructions, labels and jumps to labels; `assemble` lays them out into a list of SockFilter."""

    def __init__(self) -> None:
        self._items: list[object] = []  # SockFilter, _Jump, or ("goto", label)
        self._labels: dict[str, int] = {}  # label -> index in _items of the instruction it names

    def label(self, name: str) -> None:
        """Name the next instruction."""
        if name in self._labels:
            raise ValueError(f"label {name!r} defined twice")
        self._labels[name] = len(self._items)

    def has_label(self, name: str) -> bool:
        return name in self._labels

    def load_word(self, offset: int) -> None:
        """A = *(u32 *)(seccomp_data + offset)"""
        self._items.append(SockFilter(LOAD_WORD, k=offset))

    def and_constant(self, mask: int) -> None:
        """A &= mask"""
        self._items.append(SockFilter(AND, k=mask))

    def ret(self, value: int) -> None:
        """Return `value` (a SECCOMP_RET_* action and its data)."""
        self._items.append(SockFilter(RETURN, k=value))

    def jump(self, operation: int, k: int, true: str | None, false: str | None) -> None:
        """if (A <operation> k) goto true else goto false; None is the instruction after the jump."""
        self._items.append(_Jump(BPF_JMP | operation | BPF_K, k, true, false))

    def goto(self, target: str) -> None:
        """goto target, however far (BPF_JA)."""
        self._items.append(("goto", target))

    def assemble(self) -> list[SockFilter]:
        """The instructions, with every jump resolved; far conditional targets go through a BPF_JA."""
        for name, index in self._labels.items():
            if index >= len(self._items):
                raise ValueError(f"label {name!r} names no instruction")
        while True:
            positions = self._layout()
            if not self._mark_far_targets(positions):
                return self._emit(positions)

    def _layout(self) -> list[int]:
        """The position of each item, then the end of the program."""
        positions, position = [], 0
        for item in self._items:
            positions.append(position)
            position += item.size() if isinstance(item, _Jump) else 1
        positions.append(position)
        return positions

    def _target(self, label: str | None, index: int, positions: list[int]) -> int:
        """The position a jump at item `index` goes to (None: the instruction after it and its trampolines)."""
        if label is None:
            return positions[index + 1]
        if label not in self._labels:
            raise ValueError(f"jump at item {index} to undefined label {label!r}")
        target = positions[self._labels[label]]
        if target <= positions[index]:
            raise ValueError(f"jump at item {index} to {label!r} goes backwards")
        return target

    def _mark_far_targets(self, positions: list[int]) -> bool:
        """Mark the conditional targets out of reach in this layout; whether any was newly marked."""
        changed = False
        for index, item in enumerate(self._items):
            if not isinstance(item, _Jump):
                continue
            for which, offset in enumerate(self._short_offsets(item, index, positions)):
                if offset is not None and offset > MAX_SHORT_JUMP and not item.far[which]:
                    item.far[which] = True
                    changed = True
        return changed

    def _short_offsets(self, item: _Jump, index: int, positions: list[int]) -> list[int | None]:
        """The jt and jf offsets of the jump in its current form (None for a target reached by a BPF_JA)."""
        after = positions[index] + 1
        return [None if item.far[which] else self._target(label, index, positions) - after
                for which, label in enumerate((item.true, item.false))]

    def _emit(self, positions: list[int]) -> list[SockFilter]:
        program: list[SockFilter] = []
        for index, item in enumerate(self._items):
            if isinstance(item, SockFilter):
                program.append(item)
            elif isinstance(item, tuple):
                program.append(SockFilter(GOTO, k=self._target(item[1], index, positions) - positions[index] - 1))
            else:
                program.extend(self._expand(item, index, positions))
        return program

    def _expand(self, item: _Jump, index: int, positions: list[int]) -> list[SockFilter]:
        """The jump and its trampolines: a far target's offset points at a BPF_JA right after the jump."""
        after = positions[index] + 1
        targets = [self._target(label, index, positions) for label in (item.true, item.false)]
        offsets, gotos, slot = [], [], 0
        for which in (0, 1):
            if item.far[which]:
                offsets.append(slot)
                jump_at = after + slot
                gotos.append(SockFilter(GOTO, k=targets[which] - jump_at - 1))
                slot += 1
            else:
                offsets.append(targets[which] - after)
        return [SockFilter(item.code, offsets[0], offsets[1], item.k), *gotos]
