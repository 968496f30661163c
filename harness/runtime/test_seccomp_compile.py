"""Tests of the linux.seccomp compiler: the compiled program, run on the interpreter, against the reference model
(seccomp_model.py) and against what runc and libseccomp do (no kernel, no root)."""

import errno
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runtime import cbpf
from harness.runtime import seccomp_abi as abi
from harness.runtime.cbpf_interpreter import check_filter, run
from harness.runtime.errors import SpecError
from harness.runtime.seccomp_codegen import compile_seccomp
from harness.runtime.seccomp_model import verdict
from harness.runtime.spec_seccomp import parse_seccomp
from harness.runtime.syscall_table import NUMBERS, X32_SYSCALL_BIT

X86_64, I386 = abi.AUDIT_ARCH_X86_64, abi.AUDIT_ARCH_I386
ALLOW, KILL_THREAD, KILL_PROCESS = abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_KILL_THREAD, abi.SECCOMP_RET_KILL_PROCESS
EPERM = abi.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = abi.SECCOMP_RET_ERRNO | errno.ENOSYS
X86 = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
DOCKER_LIKE = os.path.join(os.path.dirname(__file__), "testdata", "docker_like_seccomp.json")


def nr(name: str, arch: str = "SCMP_ARCH_X86_64") -> int:
    return NUMBERS[arch][name] | (X32_SYSCALL_BIT if arch == "SCMP_ARCH_X32" else 0)


def profile(raw: dict):
    return parse_seccomp(raw, "linux.seccomp")


class Compiled:
    """A profile compiled for x86_64, to be asked for verdicts (each also checked against the model)."""

    def __init__(self, raw: dict) -> None:
        self.profile = profile(raw)
        self.filter = compile_seccomp(self.profile, "x86_64")
        self.program = list(self.filter.program)
        check_filter(self.program)

    def __call__(self, name_or_nr, *args: int, arch: int = X86_64, abi_name: str = "SCMP_ARCH_X86_64") -> int:
        number = nr(name_or_nr, abi_name) if isinstance(name_or_nr, str) else name_or_nr
        result = run(self.program, abi.seccomp_data(number, arch, args), checked=True)
        assert result == verdict(self.profile, arch, number, args), (name_or_nr, args, arch)
        return result


def rule(names, action="SCMP_ACT_ALLOW", *conditions, **extra) -> dict:
    entry = {"names": list(names) if not isinstance(names, str) else [names], "action": action, **extra}
    if conditions:
        entry["args"] = [{"index": index, "op": op, "value": value, **({"valueTwo": two} if two is not None else {})}
                         for index, op, value, two in conditions]
    return entry


def test_actions_become_seccomp_ret_values():
    """KILL is KILL_THREAD; ERRNO and TRACE carry errnoRet (EPERM by default); the rest carry nothing."""
    expected = {"SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0, "SCMP_ACT_KILL_PROCESS": 0x80000000,
                "SCMP_ACT_TRAP": 0x30000, "SCMP_ACT_ERRNO": 0x50001, "SCMP_ACT_TRACE": 0x7FF00001,
                "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
    for action, value in expected.items():
        compiled = Compiled({"defaultAction": "SCMP_ACT_LOG" if action != "SCMP_ACT_LOG" else "SCMP_ACT_ALLOW",
                             "syscalls": [rule("mkdir", action)]})
        assert compiled("mkdir") == value, action
    with_errno = Compiled({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                           "syscalls": [rule("mkdir", "SCMP_ACT_ERRNO", errnoRet=13), rule("rmdir", "SCMP_ACT_TRACE",
                                                                                           errnoRet=7)]})
    assert (with_errno("mkdir"), with_errno("rmdir"), with_errno("getpid")) == (0x5000D, 0x7FF00007, 0x50026)


@pytest.mark.parametrize("raw, path, message", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}, r"linux\.seccomp\.defaultErrnoRet",
     "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno, not SCMP_ACT_ALLOW"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("mkdir", "SCMP_ACT_KILL", errnoRet=1)]},
     r"linux\.seccomp\.syscalls\[0\]\.errnoRet", "not SCMP_ACT_KILL"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule("mkdir", "SCMP_ACT_ERRNO", errnoRet=65536)]},
     r"linux\.seccomp\.syscalls\[0\]\.errnoRet", "65536 does not fit SECCOMP_RET_DATA"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule(["mkdir", "mk dir"], "SCMP_ACT_KILL")]},
     r"linux\.seccomp\.syscalls\[0\]\.names\[1\]", "'mk dir' is not a syscall name"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]},
     r"linux\.seccomp\.flags\[1\]", "only applies to SCMP_ACT_NOTIFY"),
])
def test_invalid_profiles_name_the_json_path(raw, path, message):
    """What the spec says the runtime MUST refuse (an errno for an action without one), what cannot be encoded, a
    name that is no identifier, and a flag that needs a listener are errors naming the field."""
    with pytest.raises(SpecError, match=f"{path}: .*{message}"):
        compile_seccomp(profile(raw), "x86_64")


def test_other_machines_are_refused():
    """A machine without a syscall table (ppc64le) refuses seccomp instead of loading a wrong filter."""
    with pytest.raises(SpecError, match=r"linux\.seccomp: seccomp filters are not supported on ppc64le"):
        compile_seccomp(profile({"defaultAction": "SCMP_ACT_ALLOW"}), "ppc64le")


def test_flags_map_to_seccomp_filter_flags():
    """TSYNC, LOG and SPEC_ALLOW become the bits 1, 2 and 4 of seccomp(2)'s flags."""
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG",
                                                        "SECCOMP_FILTER_FLAG_TSYNC"]}
    assert compile_seccomp(profile(raw), "x86_64").flags == 7
    assert compile_seccomp(profile({"defaultAction": "SCMP_ACT_ALLOW"}), "x86_64").flags == 0


def test_unknown_names_are_skipped_and_reported():
    """A name no table knows (a newer kernel's, another architecture's) is skipped, as runc skips it, and listed;
    the other names of the rule still apply."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW",
                         "syscalls": [rule(["set_tls", "mkdir", "not_yet_invented"], "SCMP_ACT_ERRNO")]})
    assert compiled.filter.skipped_names == ("set_tls", "not_yet_invented")
    assert (compiled("mkdir"), compiled("rmdir")) == (EPERM, ALLOW)


def test_default_action_applies_to_unlisted_syscalls():
    """Only mkdir is named: every other syscall (getpid, a number no syscall has) gets the default action."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                         "syscalls": [rule("mkdir", "SCMP_ACT_ALLOW")]})
    assert (compiled("mkdir"), compiled("getpid"), compiled(9999)) == (ALLOW, 0x50026, 0x50026)


def test_a_rule_repeating_the_default_action_is_skipped():
    """runc drops a rule whose action equals the default: here the ERRNO(EPERM) rule on mkdir, so the later
    unconditional ALLOW is the first unconditional rule, and wins."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ERRNO",
                         "syscalls": [rule("mkdir", "SCMP_ACT_ERRNO", errnoRet=1), rule("mkdir", "SCMP_ACT_ALLOW")]})
    assert compiled("mkdir") == ALLOW


def test_unconditional_rules_win_and_the_first_of_them():
    """libseccomp: a rule without args overrides that syscall's conditional rules, whatever their order; of two
    unconditional rules the first one counts."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        rule("personality", "SCMP_ACT_KILL_PROCESS", (0, "SCMP_CMP_EQ", 8, None)),
        rule("personality", "SCMP_ACT_ERRNO", errnoRet=22),
        rule("personality", "SCMP_ACT_TRAP")]})
    assert compiled("personality", 8) == compiled("personality", 0) == 0x50016


def test_most_restrictive_matching_conditional_rule_wins():
    """Of two conditional rules that both match, KILL_PROCESS beats ERRNO whatever the order; where only one
    matches, it decides; where none does, the default."""
    for order in (1, -1):
        rules = [rule("personality", "SCMP_ACT_ERRNO", (0, "SCMP_CMP_GE", 8, None)),
                 rule("personality", "SCMP_ACT_KILL_PROCESS", (1, "SCMP_CMP_EQ", 5, None))][::order]
        compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
        assert compiled("personality", 9, 5) == KILL_PROCESS
        assert compiled("personality", 9, 4) == EPERM
        assert compiled("personality", 7, 4) == ALLOW


def test_conditions_are_anded_but_repeated_arguments_are_alternatives():
    """Conditions on different arguments all have to hold; two on the same argument are alternatives, because
    runc adds each as a rule of its own."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        rule("mkdirat", "SCMP_ACT_ERRNO", (0, "SCMP_CMP_EQ", 3, None), (2, "SCMP_CMP_EQ", 0o700, None)),
        rule("openat", "SCMP_ACT_ERRNO", (2, "SCMP_CMP_EQ", 1, None), (2, "SCMP_CMP_EQ", 2, None))]})
    assert compiled("mkdirat", 3, 0, 0o700) == EPERM
    assert compiled("mkdirat", 3, 0, 0o755) == compiled("mkdirat", 4, 0, 0o700) == ALLOW
    assert compiled("openat", 0, 0, 1) == compiled("openat", 0, 0, 2) == EPERM
    assert compiled("openat", 0, 0, 3) == ALLOW


BOUNDARIES = (0, 1, 7, 8, 9, 0xFFFFFFFF, 0x100000000, 0x100000007, 0x100000008, 0x100000009, 0x1FFFFFFFF,
              0xFFFFFFFF00000008, 2**64 - 1)


@pytest.mark.parametrize("op", ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                                "SCMP_CMP_GT"])
@pytest.mark.parametrize("value", [8, 0x100000008])
def test_comparisons_on_64_bit_values(op, value):
    """Each operator against values around 8 and 2**32+8 (where the high and low halves disagree) on x86_64 gives
    exactly the unsigned 64-bit comparison."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW",
                         "syscalls": [rule("personality", "SCMP_ACT_ERRNO", (0, op, value, None))]})
    python = {"SCMP_CMP_NE": int.__ne__, "SCMP_CMP_LT": int.__lt__, "SCMP_CMP_LE": int.__le__,
              "SCMP_CMP_EQ": int.__eq__, "SCMP_CMP_GE": int.__ge__, "SCMP_CMP_GT": int.__gt__}[op]
    for argument in BOUNDARIES:
        assert (compiled("personality", argument) == EPERM) == python(argument, value), hex(argument)


def test_masked_eq_masks_with_value_and_compares_with_value_two():
    """SCMP_CMP_MASKED_EQ holds when (arg & value) == (valueTwo & value), libseccomp's reading: Docker's clone rule
    (no namespace flags) lets a thread-creating clone through and stops one with CLONE_NEWNS or CLONE_NEWUSER; both
    halves of the word count; bits of valueTwo outside the mask do not."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        rule("clone", "SCMP_ACT_ALLOW", (0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0)),
        rule("personality", "SCMP_ACT_ALLOW", (0, "SCMP_CMP_MASKED_EQ", 0xFF000000000000FF, 0x0100000000000002))]})
    assert compiled("clone", 0x3D0F00) == ALLOW  # CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|...
    assert compiled("clone", 0x20000) == compiled("clone", 0x10000000) == EPERM  # CLONE_NEWNS, CLONE_NEWUSER
    assert compiled("personality", 0x0122334455667702) == ALLOW
    assert compiled("personality", 0x0222334455667702) == compiled("personality", 0x0122334455667703) == EPERM
    outside = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        rule("personality", "SCMP_ACT_ERRNO", (0, "SCMP_CMP_MASKED_EQ", 0xFF, 0x1_0000_0101))]})
    assert outside("personality", 0x7701) == EPERM and outside("personality", 0x7702) == ALLOW


def test_32_bit_abis_compare_the_low_half_only():
    """On i386 and x32, as libseccomp does, only the low 32 bits of the argument and of the value count: a rule for
    2**32+8 matches 8 there, and not on x86_64."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "architectures": list(X86), "syscalls": [
        rule("personality", "SCMP_ACT_ERRNO", (0, "SCMP_CMP_EQ", 0x100000008, None))]})
    assert compiled("personality", 8, arch=I386, abi_name="SCMP_ARCH_X86") == EPERM
    assert compiled("personality", 8, abi_name="SCMP_ARCH_X32") == EPERM
    assert compiled("personality", 8) == ALLOW
    assert compiled("personality", 0x100000008) == EPERM


def test_architectures_not_in_the_filter_are_killed():
    """A syscall of an architecture outside the filter (i386 when not listed, or a foreign AUDIT_ARCH) gets
    SECCOMP_RET_KILL_THREAD, libseccomp's bad-architecture action, even under an allow-all default."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW"})
    assert compiled("getpid", arch=I386, abi_name="SCMP_ARCH_X86") == KILL_THREAD
    assert compiled(20, arch=abi.AUDIT_ARCH_AARCH64) == KILL_THREAD
    assert compiled("getpid") == ALLOW
    listed = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_MIPS"]})
    assert listed("getpid", arch=I386, abi_name="SCMP_ARCH_X86") == ALLOW


def test_x32_syscalls_need_scmp_arch_x32():
    """On x86_64, a number with __X32_SYSCALL_BIT is a bad architecture unless SCMP_ARCH_X32 is listed; -1 (a
    syscall a tracer skipped) is not. With x32 listed, x32's own numbers (mkdir = BIT+83) meet their rules."""
    plain = Compiled({"defaultAction": "SCMP_ACT_ALLOW"})
    assert plain("mkdir", abi_name="SCMP_ARCH_X32") == KILL_THREAD
    assert plain(0xFFFFFFFF) == ALLOW
    x32 = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                    "syscalls": [rule(["mkdir", "rt_sigaction"], "SCMP_ACT_ERRNO")]})
    assert x32("mkdir", abi_name="SCMP_ARCH_X32") == x32("rt_sigaction", abi_name="SCMP_ARCH_X32") == EPERM
    assert nr("rt_sigaction", "SCMP_ARCH_X32") == X32_SYSCALL_BIT + 512  # x32's own number, not x86_64's 13
    assert x32(X32_SYSCALL_BIT + 13) == ALLOW


def test_enosys_stub_for_syscalls_newer_than_the_profile():
    """runc's stub: under a denying default, a syscall above the newest one the profile names (on a listed
    architecture) fails with ENOSYS, so programs fall back; at or below it, the default applies."""
    raw = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": list(X86),
           "syscalls": [rule(["read", "openat", "socketcall"], "SCMP_ACT_ALLOW")]}
    compiled = Compiled(raw)
    assert compiled(nr("openat") + 1) == ENOSYS and compiled(nr("openat")) == ALLOW
    assert compiled("getpid") == EPERM
    assert compiled(nr("openat", "SCMP_ARCH_X32") + 1, abi_name="SCMP_ARCH_X32") == ENOSYS
    assert compiled(nr("openat", "SCMP_ARCH_X86") + 1, arch=I386, abi_name="SCMP_ARCH_X86") == ENOSYS
    assert compiled("socketcall", arch=I386, abi_name="SCMP_ARCH_X86") == ALLOW
    assert compiled(0xFFFFFFFF) == ENOSYS
    # No stub under a permissive default, nor when the default already is ENOSYS (the default applies: the same
    # value, but through no stub), nor without listed architectures.
    for no_stub, default in (({**raw, "defaultAction": "SCMP_ACT_ALLOW"}, ALLOW), ({**raw, "defaultErrnoRet": 38},
                                                                                  ENOSYS),
                             ({**raw, "architectures": []}, EPERM)):
        assert Compiled(no_stub)(nr("openat") + 1) == default


def test_i386_socket_calls_are_also_filtered_through_socketcall_and_ipc():
    """On i386, a rule on socket also covers socketcall(SYS_SOCKET, ...) (its conditions cannot be checked
    there); a rule on shmat covers ipc(SHMAT, ...) with the conditions on the other arguments kept."""
    compiled = Compiled({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "syscalls": [
        rule("socket", "SCMP_ACT_ERRNO", (0, "SCMP_CMP_EQ", 40, None)),
        rule("shmat", "SCMP_ACT_ERRNO", (1, "SCMP_CMP_EQ", 7, None))]})
    i386 = {"arch": I386, "abi_name": "SCMP_ARCH_X86"}
    assert compiled("socket", 40, **i386) == EPERM and compiled("socket", 2, **i386) == ALLOW
    assert compiled("socketcall", 1, 0x1000, **i386) == EPERM  # SYS_SOCKET, whatever the address
    assert compiled("socketcall", 2, 0x1000, **i386) == ALLOW  # SYS_BIND
    assert compiled("ipc", 21, 7, **i386) == EPERM and compiled("ipc", 21, 8, **i386) == ALLOW
    assert compiled("socket", 40) == EPERM and compiled("socket", 2) == ALLOW  # x86_64: the direct call only


def test_aarch64_uses_its_own_table():
    """Compiled for aarch64: its AUDIT_ARCH and generic numbers (mkdirat is 34; mkdir does not exist there); listed
    SCMP_ARCH_ARM is left out (no table yet), so 32-bit ARM and x86_64 calls are a bad architecture."""
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
           "syscalls": [rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO")]}
    program = list(compile_seccomp(profile(raw), "aarch64").program)

    def decide(number: int, arch: int = abi.AUDIT_ARCH_AARCH64) -> int:
        return run(program, abi.seccomp_data(number, arch))
    assert NUMBERS["SCMP_ARCH_AARCH64"]["mkdirat"] == 34 and "mkdir" not in NUMBERS["SCMP_ARCH_AARCH64"]
    assert decide(34) == EPERM and decide(83) == ALLOW
    assert decide(34, abi.AUDIT_ARCH_ARM) == decide(83, X86_64) == KILL_THREAD


def test_too_many_instructions_is_an_error_naming_the_profile():
    """A profile that compiles past BPF_MAXINSNS (4096) is refused with the count, naming linux.seccomp."""
    # 300 syscalls, each with a rule of its own (three 64-bit comparisons): no code can be shared.
    names = sorted(NUMBERS["SCMP_ARCH_X86_64"])[:300]
    rules = [rule(name, "SCMP_ACT_ERRNO", *((index, "SCMP_CMP_GT", 2**40 + position, None) for index in range(3)))
             for position, name in enumerate(names)]
    with pytest.raises(SpecError, match=r"^linux\.seccomp: the filter compiles to \d+ classic BPF instructions, more "
                                        r"than the kernel's limit of 4096"):
        compile_seccomp(profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}), "x86_64")


def test_docker_like_profile_fits_and_decides_as_the_model():
    """The Docker-like profile (an allowlist of ~360 names, conditional personality, clone and socket rules, clone3
    with ENOSYS, x86_64/x86/x32) compiles well under 4096 instructions, reaches far targets through BPF_JA, and
    over every syscall number of each ABI, with a few argument vectors, decides as the model."""
    with open(DOCKER_LIKE) as source:
        compiled = Compiled(json.load(source))
    size = len(compiled.program)
    print(f"docker_like_seccomp.json: {size} instructions")
    assert 100 < size < 1000
    assert any(insn.code == cbpf.GOTO for insn in compiled.program)
    assert compiled("execveat") == compiled("openat") == ALLOW and compiled("mount") == EPERM
    assert compiled("clone3") == ENOSYS and compiled("personality", 8) == ALLOW and compiled("personality", 1) == EPERM
    assert compiled("socket", 2) == ALLOW and compiled("socket", 40) == EPERM
    for arch, abi_name, numbers in ((X86_64, "SCMP_ARCH_X86_64", range(0, 520)), (I386, "SCMP_ARCH_X86", range(480)),
                                    (X86_64, "SCMP_ARCH_X32", range(X32_SYSCALL_BIT, X32_SYSCALL_BIT + 560))):
        for number in numbers:
            for args in ((), (8,), (40, 1), (0x20000,)):
                compiled(number, *args, arch=arch, abi_name=abi_name)


# --- property: random profiles and calls, the compiled program against the model -------------------------------

NAMES = ("read", "mkdir", "personality", "socket", "socketcall", "shmat", "ipc", "arch_prctl", "_llseek",
         "rt_sigaction", "execveat", "clone3", "not_a_syscall")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
VALUES = (0, 1, 7, 8, 21, 40, 0xFF, 0xFFFFFFFF, 0x100000000, 0x100000008, 0xFF000000000000FF, 2**63, 2**64 - 1)
ACTION_NAMES = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
                "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
# The numbers the names have on each ABI, their neighbours, and the edges of the x32 and u32 ranges.
_NAMED = {number for name in NAMES for arch in X86 if name in NUMBERS[arch] for number in (nr(name, arch),)}
INTERESTING_NUMBERS = sorted({(n + delta) % 2**32 for n in _NAMED for delta in (-1, 0, 1)}
                             | {0, X32_SYSCALL_BIT - 1, X32_SYSCALL_BIT, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF})


@st.composite
def actions(draw, key_action: str, key_errno: str) -> dict:
    """An action, with an errnoRet sometimes when it takes one."""
    name = draw(st.sampled_from(ACTION_NAMES))
    entry = {key_action: name}
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        entry[key_errno] = draw(st.sampled_from((1, 13, 38)))
    return entry


arguments = st.fixed_dictionaries({"index": st.integers(0, 2), "op": st.sampled_from(OPERATORS),
                                   "value": st.sampled_from(VALUES), "valueTwo": st.sampled_from(VALUES)})
rules = st.builds(lambda names, action, args: {"names": names, **action, **({"args": args} if args else {})},
                  st.lists(st.sampled_from(NAMES), min_size=1, max_size=3), actions("action", "errnoRet"),
                  st.lists(arguments, max_size=3))
profiles = st.builds(lambda default, arches, syscalls: {**default, "architectures": arches, "syscalls": syscalls},
                     actions("defaultAction", "defaultErrnoRet"),
                     st.lists(st.sampled_from((*X86, "SCMP_ARCH_MIPS")), unique=True, max_size=4),
                     st.lists(rules, max_size=6))
calls = st.tuples(st.sampled_from((X86_64, X86_64, I386, abi.AUDIT_ARCH_AARCH64)),
                  st.one_of(st.sampled_from(INTERESTING_NUMBERS), st.integers(0, 2**32 - 1)),
                  st.tuples(*(st.one_of(st.sampled_from(VALUES), st.integers(0, 2**64 - 1)) for _ in range(3))))


@st.composite
def aimed_calls(draw, raw: dict) -> tuple[int, int, tuple[int, ...]]:
    """A call of a syscall some rule of `raw` names, on some x86 ABI, whose arguments sit on or next to the values
    its conditions test (where an off-by-one in a comparison would show)."""
    entry = draw(st.sampled_from(raw["syscalls"]))
    abi_name = draw(st.sampled_from([arch for arch in X86 if set(entry["names"]) & set(NUMBERS[arch])] or [X86[0]]))
    known = [name for name in entry["names"] if name in NUMBERS[abi_name]]
    number = nr(draw(st.sampled_from(known)), abi_name) if known else draw(st.sampled_from(INTERESTING_NUMBERS))
    near = [(arg[key] + delta) % 2**64 for arg in entry.get("args", ()) for key in ("value", "valueTwo")
            for delta in (-1, 0, 1)]
    args = tuple(draw(st.sampled_from(near or list(VALUES))) for _ in range(3))
    return (I386 if abi_name == "SCMP_ARCH_X86" else X86_64), number, args


def profile_and_calls(call_strategy, profile_strategy=None):
    """A profile and calls: half of them aimed at its rules (aimed_calls), half from `call_strategy`."""
    @st.composite
    def build(draw):
        raw = draw(profile_strategy if profile_strategy is not None else profiles)
        aimed = aimed_calls(raw) if raw["syscalls"] else call_strategy
        return raw, draw(st.lists(st.one_of(aimed, call_strategy), min_size=10, max_size=25))
    return build()


@settings(derandomize=True, max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=profile_and_calls(calls))
def test_compiled_profiles_decide_as_the_model(case):
    """For random profiles (any action and errno, overlapping conditional and unconditional rules, all operators on
    64-bit values, arch-specific and unknown names, any listed architectures) and random calls (x86_64, i386, x32
    numbers, foreign architectures, edge numbers), the compiled program passes the kernel's checks and returns
    what the model says."""
    raw, requests = case
    compiled = Compiled(raw)
    for arch, number, args in requests:
        compiled(number, *args, arch=arch)
