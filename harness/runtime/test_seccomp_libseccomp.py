"""The compiler against libseccomp itself: the same profile, built into a filter as runc builds it with libseccomp
and compiled by us, must decide alike on the interpreter (skipped where libseccomp.so.2 is not installed)."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.runtime import libseccomp_oracle
from harness.runtime import seccomp_abi as abi
from harness.runtime import seccomp_model as model
from harness.runtime.cbpf_interpreter import check_filter, run
from harness.runtime.seccomp_codegen import compile_seccomp
from harness.runtime.spec_seccomp import Seccomp
from harness.runtime.syscall_table import NUMBERS, X32_SYSCALL_BIT
from harness.runtime.test_seccomp_compile import INTERESTING_NUMBERS, VALUES, X86, profile, profile_and_calls, rules

LIBSECCOMP = libseccomp_oracle.load()
pytestmark = pytest.mark.skipif(LIBSECCOMP is None, reason="libseccomp.so.2 is not installed (it comes with runc)")


def runc_filter(seccomp: Seccomp) -> list | None:
    """What runc 1.1 loads, less its -ENOSYS stub: rules repeating the default skipped, names resolved natively
    (libseccomp maps them to each architecture), conditions on one argument split into rules of their own."""
    default = model.action(seccomp.default_action, seccomp.default_errno_ret)
    added = []
    for rule in seccomp.syscalls:
        action = model.action(rule.action, rule.errno_ret)
        if action == default:
            continue
        conditions = [(arg.index, arg.op, arg.value, arg.value_two) for arg in rule.args]
        indexes = [condition[0] for condition in conditions]
        split = [[condition] for condition in conditions] if len(set(indexes)) < len(indexes) else [conditions]
        for name in rule.names:
            number = LIBSECCOMP.native_number(name)
            if number == libseccomp_oracle.NR_SCMP_ERROR:
                continue  # runc: "unknown seccomp syscall ignored"
            added += [(action, number, alternative) for alternative in split]
    arches = tuple(arch for arch in seccomp.architectures if arch in X86)
    return LIBSECCOMP.filter(default, arches, added)


def stub_applies(seccomp: Seccomp, arch: int, nr: int) -> bool:
    """Whether runc's -ENOSYS stub (which libseccomp's program lacks) decides this call."""
    default = model.action(seccomp.default_action, seccomp.default_errno_ret)
    if default & abi.SECCOMP_RET_ACTION_FULL in (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_LOG, abi.SECCOMP_RET_TRACE) \
            or seccomp.default_errno_ret == model.ENOSYS:
        return False
    abi_name = model.abi_of(arch, nr)
    return abi_name in seccomp.architectures and 0 < model._newest(seccomp, abi_name) < nr


def ambiguous(seccomp: Seccomp, arch: int, nr: int, args: tuple[int, ...]) -> bool:
    """Several conditional rules with different actions match: libseccomp picks by the shape of its tree, we pick
    the most restrictive, so such calls are left out of the comparison."""
    found = model.candidates(seccomp, arch, nr)
    if any(always for _, _, always, _ in found):
        return False
    padded = tuple(args) + (0,) * (6 - len(args))
    return len({model.action(rule.action, rule.errno_ret) for _, rule, _, test in found if test(padded)}) > 1


def test_libseccomp_agrees_on_the_syscall_numbers():
    """libseccomp 2.5 gives each name our table's number on every ABI, x32's with its bit, unless it does not know
    the call (newer than it) or, on x86, multiplexes it (socket calls, System V IPC: a negative pseudo number)."""
    for arch, numbers in NUMBERS.items():
        bit = X32_SYSCALL_BIT if arch == "SCMP_ARCH_X32" else 0
        for name, number in numbers.items():
            theirs = LIBSECCOMP.number(arch, name)
            assert theirs in (number | bit, libseccomp_oracle.NR_SCMP_ERROR) or theirs < 0, (arch, name, theirs)
        known = [name for name in numbers if LIBSECCOMP.number(arch, name) == numbers[name] | bit]
        assert len(known) > 0.9 * len(numbers), arch
        for number in range(600):
            name = LIBSECCOMP.name(arch, number | bit)
            assert name is None or numbers.get(name) == number, (arch, number, name)


def test_docker_like_profile_agrees_with_libseccomp():
    """The Docker-like profile decides every syscall number of x86_64, i386 and x32 (with a few argument vectors)
    as libseccomp's filter does, below the -ENOSYS stub's threshold."""
    import json
    from harness.runtime.test_seccomp_compile import DOCKER_LIKE
    with open(DOCKER_LIKE) as source:
        seccomp = profile(json.load(source))
    ours, theirs = list(compile_seccomp(seccomp, "x86_64").program), runc_filter(seccomp)
    check_filter(ours)
    check_filter(theirs)
    conditional = {"personality", "clone", "socket", "socketcall"}
    checked = 0
    for arch, numbers in ((abi.AUDIT_ARCH_X86_64, range(0, 480)), (abi.AUDIT_ARCH_I386, range(460)),
                          (abi.AUDIT_ARCH_X86_64, range(X32_SYSCALL_BIT, X32_SYSCALL_BIT + 560))):
        for number in numbers:
            name = LIBSECCOMP.name(model.abi_of(arch, number), number)
            if name is None or stub_applies(seccomp, arch, number):
                continue  # libseccomp 2.5 does not know the call (newer than it), or the stub decides
            for args in ((), (8,), (40, 1), (0x20000,), (0x7E020000,))[:5 if name in conditional else 1]:
                data = abi.seccomp_data(number, arch, args)
                assert run(ours, data, checked=True) == run(theirs, data, checked=True), (hex(arch), number, args)
                checked += 1
    assert checked > 1000


# Names that x86_64 has: a rule on a call it lacks (socketcall, ipc, _llseek) can make libseccomp 2.5.4 emit a
# broken program when x32 is in the filter too (a jump on the syscall number with the architecture still loaded).
# socket and shmat still exercise i386's socketcall and ipc.
NATIVE_NAMES = ("read", "mkdir", "personality", "socket", "shmat", "arch_prctl", "rt_sigaction", "execveat", "clone3")


# Calls that some rule is about, mostly: the numbers the names have on x86_64, i386 and x32, and their neighbours.
named_calls = st.tuples(st.sampled_from((abi.AUDIT_ARCH_X86_64, abi.AUDIT_ARCH_X86_64, abi.AUDIT_ARCH_I386)),
                        st.sampled_from(INTERESTING_NUMBERS),
                        st.tuples(*(st.sampled_from(VALUES) for _ in range(3))))


@settings(derandomize=True, max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=profile_and_calls(named_calls, st.builds(
    lambda default, arches, syscalls: {**default, "architectures": arches, "syscalls": syscalls},
    st.sampled_from([{"defaultAction": action} for action in (
        "SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_TRAP")]),
    st.lists(st.sampled_from(X86), unique=True, max_size=3),
    st.lists(rules.filter(lambda entry: set(entry["names"]) <= set(NATIVE_NAMES)), max_size=5))))
def test_random_profiles_agree_with_libseccomp(case):
    """For random profiles over names libseccomp 2.5 knows, every call (bar the stub's and the ambiguous ones)
    gets the same verdict from our program and from libseccomp's; profiles libseccomp refuses are skipped."""
    raw, requests = case
    seccomp = profile(raw)
    theirs = runc_filter(seccomp)
    assume(theirs is not None)
    ours = list(compile_seccomp(seccomp, "x86_64").program)
    for arch, number, args in requests:
        if stub_applies(seccomp, arch, number) or ambiguous(seccomp, arch, number, args):
            continue
        data = abi.seccomp_data(number, arch, args)
        assert run(ours, data) == run(theirs, data), (hex(arch), hex(number), args)

