"""Tests of the eBPF assembler and the device rule compiler, run on a small interpreter (no kernel, no root)."""

import errno
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import bpf
from harness.runtime.bpf_interpreter import BpfProgramError, check_structure, run
from harness.runtime.devicefilter import ALL_ACCESS, DEFAULT_RULES, attach_device_filter, compile_rules, \
    effective_rules, rules_allow
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.spec import load_spec
from harness.runtime.spec_resources import DeviceRule
from harness.runtime.test_spec import runc_config

TYPES = {"b": bpf.BPF_DEVCG_DEV_BLOCK, "c": bpf.BPF_DEVCG_DEV_CHAR}
ACCESSES = range(1, ALL_ACCESS + 1)  # every non-empty subset of mknod, read, write
# Devices the rules below talk about, plus neighbours that no rule names.
NUMBERS = (0, 1, 3, 5, 8, 136, 4095)
REQUESTS = list(itertools.product("bc", NUMBERS, NUMBERS, ACCESSES))
RUNC_DEFAULT = load_spec(runc_config()).linux.resources.devices


def decide(program: bytes, device_type: str, major: int, minor: int, access: int) -> bool:
    return run(program, TYPES[device_type], major, minor, access) == 1


def test_instruction_encoding_is_struct_bpf_insn():
    """Each instruction is 8 bytes: opcode, dst in the low and src in the high nibble, s16 offset, s32 immediate."""
    assert bpf.Insn(0x61, dst=2, src=1, off=4).encode() == bytes([0x61, 0x12, 4, 0, 0, 0, 0, 0])
    assert bpf.Insn(0x55, dst=4, off=-1, imm=-2).encode() == bytes([0x55, 0x04, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF])
    assert bpf.decode(bpf.Insn(0xB4, dst=0, imm=1).encode()) == [bpf.Insn(0xB4, 0, 0, 0, 1)]


def test_assembler_resolves_labels_relative_to_the_next_instruction():
    """A jump's offset counts from the instruction after it; undefined labels and backward jumps are refused."""
    asm = bpf.Assembler()
    asm.load_word(bpf.R2, bpf.R1, 0)
    asm.and_imm32(bpf.R2, 0xFFFF)
    asm.jump_imm(bpf.BPF_JNE, bpf.R2, 2, "out")
    asm.mov_imm32(bpf.R0, 1)
    asm.exit()
    asm.label("out")
    asm.mov_imm32(bpf.R0, 0)
    asm.exit()
    assert asm.resolved()[2].off == 2
    assert run(asm.assemble(), 2, 0, 0, 1) == 1 and run(asm.assemble(), 1, 0, 0, 1) == 0
    asm.jump_imm(bpf.BPF_JEQ, bpf.R0, 0, "nowhere")
    with pytest.raises(ValueError, match="undefined label 'nowhere'"):
        asm.assemble()
    backwards = bpf.Assembler()
    backwards.label("top")
    backwards.jump_imm(bpf.BPF_JEQ, bpf.R0, 0, "top")
    with pytest.raises(ValueError, match="goes backwards"):
        backwards.assemble()


def test_interpreter_refuses_what_the_verifier_refuses():
    """Unreachable code, a missing exit, reading an unwritten register and using the ctx as a number all fail."""
    exit_now = [bpf.Insn(0xB4, 0, imm=0), bpf.Insn(0x95)]
    with pytest.raises(BpfProgramError, match="unreachable"):
        check_structure(exit_now + [bpf.Insn(0x95)])
    with pytest.raises(BpfProgramError, match="outside the program"):
        check_structure([bpf.Insn(0xB4, 0, imm=0)])
    with pytest.raises(BpfProgramError, match="R0 !read_ok|never written"):
        run(bpf.Insn(0x95).encode(), 1, 0, 0, 1)
    with pytest.raises(BpfProgramError, match="ctx pointer"):
        run(b"".join(i.encode() for i in (bpf.Insn(0xBC, 0, 1), bpf.Insn(0x95))), 1, 0, 0, 1)


def test_runc_default_denies_all_but_the_default_devices():
    """runc's spec (one deny-all rule) plus the defaults: /dev/null, zero, full, random, urandom, tty, console,
    ptmx and /dev/pts/* are rwm; any mknod is allowed; reading a disk (b 8:0) or /dev/mem (c 1:1) is not."""
    program = compile_rules(effective_rules(RUNC_DEFAULT))
    read_write = bpf.BPF_DEVCG_ACC_READ | bpf.BPF_DEVCG_ACC_WRITE
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 0), (136, 7)):
        assert decide(program, "c", major, minor, ALL_ACCESS), (major, minor)
    assert decide(program, "b", 8, 0, bpf.BPF_DEVCG_ACC_MKNOD) and decide(program, "c", 1, 1, bpf.BPF_DEVCG_ACC_MKNOD)
    assert not decide(program, "b", 8, 0, bpf.BPF_DEVCG_ACC_READ)
    assert not decide(program, "c", 1, 1, read_write)
    assert not decide(program, "b", 1, 3, bpf.BPF_DEVCG_ACC_READ)  # the type matters: b 1:3 is no /dev/null


def test_runc_default_program_matches_the_rule_semantics_everywhere():
    """Over every request of the test domain, the compiled runc default decides as rules_allow does."""
    rules = effective_rules(RUNC_DEFAULT)
    program = compile_rules(rules)
    assert [decide(program, *request) for request in REQUESTS] == [rules_allow(rules, *request)
                                                                   for request in REQUESTS]


def test_last_matching_rule_wins_and_deny_refuses_any_denied_access():
    """allow c 1:3 rwm then deny c 1:3 w: a read passes, a write or a read-write open is refused; an allow after a
    deny re-opens; a partial allow (r) does not grant a read-write open."""
    rules = (DeviceRule(allow=True, type="c", major=1, minor=3), DeviceRule(allow=False, type="c", major=1, minor=3,
                                                                             access="w"))
    program = compile_rules(rules)
    read, write = bpf.BPF_DEVCG_ACC_READ, bpf.BPF_DEVCG_ACC_WRITE
    assert decide(program, "c", 1, 3, read)
    assert not decide(program, "c", 1, 3, write) and not decide(program, "c", 1, 3, read | write)
    reopened = compile_rules(rules + (DeviceRule(allow=True, type="c", major=1, minor=3, access="rw"),))
    assert decide(reopened, "c", 1, 3, read | write)
    partial = compile_rules((DeviceRule(allow=True, type="c", major=1, minor=3, access="r"),))
    assert decide(partial, "c", 1, 3, read) and not decide(partial, "c", 1, 3, read | write)


def test_an_allow_all_rule_ends_the_program():
    """"allow a *:* rwm" matches everything: the rules before it compile to nothing (unreachable for the
    verifier), and the program allows every request."""
    rules = tuple(DEFAULT_RULES) + (DeviceRule(allow=True),)
    program = compile_rules(rules)
    assert len(program) == 8 * 8  # the six loads, then r0 = 1; exit
    assert all(decide(program, *request) for request in REQUESTS[::37])


def test_no_rules_deny_everything():
    """An empty rule list (without the defaults) compiles to a program that denies every request."""
    program = compile_rules(())
    assert not any(decide(program, *request) for request in REQUESTS[::11])


def test_numbers_above_int32_are_refused_with_the_json_path():
    """A major above 2**31-1 cannot be an eBPF immediate: a SpecError naming the rule's major."""
    with pytest.raises(SpecError, match=r"linux\.resources\.devices\[0\]\.major: 2147483648 is above"):
        compile_rules((DeviceRule(allow=True, type="c", major=1 << 31),))


rule_strategy = st.builds(
    DeviceRule, allow=st.booleans(), type=st.sampled_from("abc"),
    major=st.one_of(st.none(), st.sampled_from(NUMBERS)), minor=st.one_of(st.none(), st.sampled_from(NUMBERS)),
    access=st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"]))


@settings(derandomize=True, max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(rule_strategy, max_size=8), requests=st.lists(
    st.tuples(st.sampled_from("bc"), st.sampled_from(NUMBERS), st.sampled_from(NUMBERS), st.sampled_from(ACCESSES)),
    min_size=1, max_size=40))
def test_compiled_rules_decide_as_the_semantics_say(rules, requests):
    """For random rule lists (any type, wildcards, partial accesses, allow and deny), the program passes the
    structural checks and decides each request as rules_allow: last match wins, no match denies."""
    program = compile_rules(tuple(rules))
    for request in requests:
        assert decide(program, *request) == rules_allow(tuple(rules), *request), (rules, request)


def test_attach_loads_attaches_and_closes():
    """The program is loaded as BPF_PROG_TYPE_CGROUP_DEVICE ("Apache" license), attached to the cgroup fd with
    BPF_F_ALLOW_MULTI, and its fd is closed afterwards."""
    fake = RecordingSyscalls()
    attach_device_filter(RUNC_DEFAULT, 7, fake)
    assert fake.names() == ["bpf_prog_load", "bpf_prog_attach", "close"]
    load = fake.arguments_of("bpf_prog_load")[0]
    assert (load[0], load[1], load[3], load[4]) == (bpf.BPF_PROG_LOAD, bpf.BPF_PROG_TYPE_CGROUP_DEVICE, "Apache",
                                                    "kharness_dev")
    program_fd = fake.arguments_of("close")[0][0]
    assert fake.arguments_of("bpf_prog_attach") == [(bpf.BPF_PROG_ATTACH, 7, program_fd, bpf.BPF_CGROUP_DEVICE,
                                                     bpf.BPF_F_ALLOW_MULTI)]


def test_a_refused_program_shows_the_verifier_log():
    """A load that fails is retried with a log buffer, and the error names bpf(BPF_PROG_LOAD...) and the log."""
    fake = RecordingSyscalls()
    fake.fail("bpf_prog_load", errno.EACCES)
    with pytest.raises(ContainerError, match=r"linux\.resources\.devices: loading the device program: "
                                             r"bpf\w*\(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE, .*EACCES"):
        attach_device_filter(RUNC_DEFAULT, 7, fake)
    assert fake.names() == ["bpf_prog_load", "bpf_prog_load"]


def test_a_refused_attach_names_the_call_and_closes_the_program():
    """An attach failure names bpf(BPF_PROG_ATTACH, ...) and still closes the program's fd."""
    fake = RecordingSyscalls()
    fake.fail("bpf_prog_attach", errno.EBADF)
    with pytest.raises(ContainerError, match=r"attaching the device program.*BPF_PROG_ATTACH.*EBADF"):
        attach_device_filter((), 7, fake)
    assert fake.names()[-1] == "close"


def test_a_load_refused_for_memlock_is_retried_with_the_limit_lifted_and_the_limit_restored():
    """Before Linux 5.11 BPF memory counts against RLIMIT_MEMLOCK and a load beyond it fails with EPERM: the load
    is retried with the limit lifted, and the process's limit is what it was afterwards (the container inherits
    it). The fake refuses as such a kernel would: EPERM while the soft limit is the low one set here."""
    import resource
    saved = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    low = 65536
    if saved[1] != resource.RLIM_INFINITY and saved[1] <= low:
        pytest.skip(f"RLIMIT_MEMLOCK's hard limit {saved[1]} leaves nothing to lift")
    fake = RecordingSyscalls()
    fake.fail("bpf_prog_load", errno.EPERM,
              when=lambda arguments: resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] == low)
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (low, saved[1]))
    try:
        attach_device_filter(RUNC_DEFAULT, 7, fake)
        assert resource.getrlimit(resource.RLIMIT_MEMLOCK) == (low, saved[1])
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, saved)
    assert fake.names() == ["bpf_prog_load", "bpf_prog_load", "bpf_prog_attach", "close"]
