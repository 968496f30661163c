"""Tests of the classic BPF assembler (labels, far jumps) and of the seccomp filter interpreter (no kernel)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import cbpf
from harness.runtime.cbpf import Assembler, SockFilter
from harness.runtime.cbpf_interpreter import FilterError, check_filter, run
from harness.runtime.seccomp_abi import AUDIT_ARCH_X86_64, seccomp_data


def data(nr: int, *args: int) -> bytes:
    return seccomp_data(nr, AUDIT_ARCH_X86_64, args)


def test_sock_filter_encoding_is_u16_u8_u8_u32():
    """struct sock_filter is 8 bytes: the opcode, jt, jf, then k, in native (here little-endian) order."""
    insn = SockFilter(cbpf.BPF_JMP | cbpf.BPF_JEQ | cbpf.BPF_K, 3, 250, 0xC000003E)
    assert cbpf.encode([insn]) == bytes([0x15, 0x00, 3, 250, 0x3E, 0x00, 0x00, 0xC0])
    assert cbpf.decode(cbpf.encode([insn, SockFilter(cbpf.RETURN, k=7)])) == [insn, SockFilter(cbpf.RETURN, k=7)]
    with pytest.raises(ValueError, match="multiple of 8"):
        cbpf.decode(b"\0" * 12)


def test_jumps_count_from_the_next_instruction():
    """jt and jf are offsets from the instruction after the jump; None is that very instruction."""
    asm = Assembler()
    asm.load_word(0)
    asm.jump(cbpf.BPF_JEQ, 5, "five", None)
    asm.ret(1)
    asm.label("five")
    asm.ret(2)
    program = asm.assemble()
    assert program[1] == SockFilter(cbpf.BPF_JMP | cbpf.BPF_JEQ, 1, 0, 5)
    assert (run(program, data(5)), run(program, data(6))) == (2, 1)


def _branch(operation: int, k: int, true: str, false: str, blocks) -> list[SockFilter]:
    """ld nr; if (nr <operation> k) goto true else goto false; then per block (filler, label, value): `filler`
    never-reached returns, and `label` naming a `ret value`."""
    asm = Assembler()
    asm.load_word(0)
    asm.jump(operation, k, true, false)
    for filler, label, value in blocks:
        for _ in range(filler):
            asm.ret(99)
        asm.label(label)
        asm.ret(value)
    return asm.assemble()


def test_far_targets_go_through_a_goto_and_near_ones_stay_short():
    """A target 300 instructions ahead is reached by a BPF_JA placed right after the jump; the other side of the same
    jump stays a short offset that skips the BPF_JA."""
    program = _branch(cbpf.BPF_JGE, 10, "far", "near", [(0, "near", 1), (300, "far", 2)])
    assert program[1] == SockFilter(cbpf.BPF_JMP | cbpf.BPF_JGE, 0, 1, 10)
    assert program[2].code == cbpf.GOTO and 2 + 1 + program[2].k == len(program) - 1
    assert (run(program, data(10)), run(program, data(9))) == (2, 1)


def test_both_targets_far():
    """With both targets out of reach, the jump is followed by two BPF_JA, one per side."""
    program = _branch(cbpf.BPF_JEQ, 1, "one", "other", [(260, "one", 1), (260, "other", 2)])
    assert program[1].jt == 0 and program[1].jf == 1 and program[2].code == program[3].code == cbpf.GOTO
    assert (run(program, data(1)), run(program, data(0))) == (1, 2)


def test_bad_labels_are_refused():
    """Undefined labels, labels defined twice, backward jumps and a label at the very end are errors."""
    asm = Assembler()
    asm.jump(cbpf.BPF_JEQ, 0, "nowhere", None)
    asm.ret(0)
    with pytest.raises(ValueError, match="undefined label 'nowhere'"):
        asm.assemble()
    backwards = Assembler()
    backwards.label("top")
    backwards.load_word(0)
    backwards.jump(cbpf.BPF_JEQ, 0, "top", None)
    backwards.ret(0)
    with pytest.raises(ValueError, match="goes backwards"):
        backwards.assemble()
    with pytest.raises(ValueError, match="defined twice"):
        backwards.label("top")
    dangling = Assembler()
    dangling.ret(0)
    dangling.label("end")
    with pytest.raises(ValueError, match="names no instruction"):
        dangling.assemble()


def test_interpreter_refuses_what_the_kernel_refuses():
    """No RET at the end, a jump out of the program, an unaligned or out-of-struct load, an unknown opcode, an empty
    or oversized program: all refused before running."""
    ret = SockFilter(cbpf.RETURN, k=0)
    cases = {
        "last instruction is not a RET": [ret, SockFilter(cbpf.LOAD_WORD, k=0)],
        "conditional jump past the end": [SockFilter(cbpf.BPF_JMP | cbpf.BPF_JEQ, 1, 0, 0), ret],
        "BPF_JA past the end": [SockFilter(cbpf.GOTO, k=1), ret],
        "aligned word of seccomp_data": [SockFilter(cbpf.LOAD_WORD, k=2), ret],
        "not modelled": [SockFilter(0x07), ret],
        "1 to 4096 instructions, this one 0": [],
        "this one 4097": [ret] * 4097,
    }
    for message, program in cases.items():
        with pytest.raises(FilterError, match=message):
            check_filter(program)
    with pytest.raises(FilterError, match="aligned word"):
        check_filter([SockFilter(cbpf.LOAD_WORD, k=64), ret])
    check_filter([SockFilter(cbpf.LOAD_WORD, k=60), ret])


def test_interpreter_reads_seccomp_data_fields():
    """Offsets 0 (nr), 4 (arch), 16+8i and 20+8i (the low and high halves of args[i]) read what seccomp_data holds."""
    blob = seccomp_data(0xFFFFFFFF, AUDIT_ARCH_X86_64, (0x1122334455667788, 0, 0, 0, 0, 0xAABBCCDD00000001))
    assert _word(0, blob) == 0xFFFFFFFF and _word(4, blob) == AUDIT_ARCH_X86_64
    assert (_word(16, blob), _word(20, blob)) == (0x55667788, 0x11223344)
    assert (_word(56, blob), _word(60, blob)) == (1, 0xAABBCCDD)


def _word(offset: int, blob: bytes) -> int:
    """The word a filter loads at `offset`, read back one bit per run (a filter only returns constants)."""
    value = 0
    for bit in range(32):
        asm = Assembler()
        asm.load_word(offset)
        asm.jump(cbpf.BPF_JSET, 1 << bit, "set", None)
        asm.ret(0)
        asm.label("set")
        asm.ret(1)
        value |= run(asm.assemble(), blob) << bit
    return value


@settings(derandomize=True, max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(constants=st.lists(st.integers(0, 50), min_size=1, max_size=40), gaps=st.lists(st.integers(0, 120),
                                                                                       min_size=40, max_size=40),
       probe=st.integers(0, 51))
def test_far_and_near_jumps_keep_their_meaning(constants, gaps, probe):
    """A chain of `if nr == c_i return i` with random filler between the returns (so some targets are far, some
    near) returns the index of the first matching constant, or the fallback, exactly as the chain says."""
    asm = Assembler()
    asm.load_word(0)
    for index, constant in enumerate(constants):
        asm.jump(cbpf.BPF_JEQ, constant, f"hit{index}", None)
    asm.ret(1000)
    for index in range(len(constants)):
        for _ in range(gaps[index]):
            asm.ret(2000)  # never reached: jumps land on the labels
        asm.label(f"hit{index}")
        asm.ret(index)
    program = asm.assemble()
    expected = next((index for index, constant in enumerate(constants) if constant == probe), 1000)
    assert run(program, data(probe)) == expected
    assert all(insn.jt <= 255 and insn.jf <= 255 for insn in program)
