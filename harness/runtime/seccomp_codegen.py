"""A seccomp plan (seccomp_plan.py) as a classic BPF program, and `compile_seccomp`, linux.seccomp to a filter.

The program's shape:

    ld arch; jeq each section's AUDIT_ARCH -> its section; ret bad-arch action
    section: ld nr
             -ENOSYS stub: numbers above the newest one named (x86_64: per mode, by __X32_SYSCALL_BIT) -> ENOSYS
             x86_64 without x32: nr >= __X32_SYSCALL_BIT and nr != -1 -> bad-arch action
             a binary search over ranges of syscall numbers that share one meaning -> that meaning's code
    meanings: an unconditional rule is its shared `ret`; conditional rules test their arguments one after the other
              (64-bit values as two 32-bit halves, the high one first) and return, or go on to the next rule,
              then to the default action's `ret`

The search compares the number at most log2(ranges) times (a Docker-like allowlist is a few hundred names, but
far fewer ranges of consecutive numbers), rather than once per name.
"""

from __future__ import annotations

import itertools
import os

from . import cbpf
from . import seccomp_abi as abi
from .cbpf import Assembler, SockFilter
from .errors import SpecError
from .record import record
from .seccomp_plan import Plan, Section, SyscallPlan, plan_seccomp
from .spec_seccomp import Seccomp, SeccompArg
from .syscall_table import X32_SYSCALL_BIT

_U32 = (1 << 32) - 1
_MINUS_ONE = _U32  # the kernel's "no syscall" (a tracer skipped it), as an unsigned number


@record(frozen=True)
class SeccompFilter:
    """A compiled linux.seccomp: the program, the seccomp(2) flags, and the names skipped as unknown."""

    program: tuple[SockFilter, ...]
    flags: int = 0
    skipped_names: tuple[str, ...] = ()


def compile_seccomp(seccomp: Seccomp, machine: str | None = None, path: str = "linux.seccomp") -> SeccompFilter:
    """Compile a profile for `machine` (os.uname().machine, this one's by default); SpecError naming the JSON path
    when it is invalid or does not fit the kernel's BPF_MAXINSNS."""
    plan = plan_seccomp(seccomp, machine or os.uname().machine, path)
    program = generate(plan)
    if len(program) > cbpf.BPF_MAXINSNS:
        raise SpecError(path, f"the filter compiles to {len(program)} classic BPF instructions, more than the "
                              f"kernel's limit of {cbpf.BPF_MAXINSNS} (BPF_MAXINSNS)")
    return SeccompFilter(program=tuple(program), flags=plan.flags, skipped_names=plan.skipped_names)


def generate(plan: Plan) -> list[SockFilter]:
    """The instructions of `plan` (any length: the caller checks it against BPF_MAXINSNS)."""
    return _Generator(plan).program()


@record(frozen=True)
class _Range:
    """Syscall numbers from `start` up to the next range's start, all going to `target` (a label)."""

    start: int
    target: str


class _Generator:
    """Emits one plan; meanings shared by several syscalls, and `ret` instructions, are emitted once."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.asm = Assembler()
        self.returns: dict[int, str] = {}  # action value -> label of its `ret`
        self.bodies: dict[tuple, str] = {}  # (rules, wide) -> label of their code
        self.pending: list[SyscallPlan] = []  # conditional meanings still to emit
        self.fresh = (f"L{number}" for number in itertools.count())

    def program(self) -> list[SockFilter]:
        asm, plan = self.asm, self.plan
        asm.load_word(abi.ARCH_OFFSET)
        labels = [next(self.fresh) for _ in plan.sections]
        for section, label in zip(plan.sections, labels):
            asm.jump(cbpf.BPF_JEQ, section.audit_arch, label, None)
        asm.ret(plan.bad_arch_action)
        for section, label in zip(plan.sections, labels):
            asm.label(label)
            self._section(section)
        for syscall in self.pending:
            self._body(syscall)
        for value, label in self.returns.items():
            asm.label(label)
            asm.ret(value)
        return asm.assemble()

    def _return(self, value: int) -> str:
        """The label of a shared `ret value`, emitted at the end."""
        return self.returns.setdefault(value, f"ret_{value:08x}")

    def _section(self, section: Section) -> None:
        asm = self.asm
        asm.load_word(abi.NR_OFFSET)
        search = next(self.fresh)
        self._enosys_stub(section, search)
        if section.reject_x32:
            asm.jump(cbpf.BPF_JGE, X32_SYSCALL_BIT, None, search)
            asm.jump(cbpf.BPF_JEQ, _MINUS_ONE, search, self._return(self.plan.bad_arch_action))
        asm.label(search)
        ranges = self._ranges(section.syscalls)
        if len(ranges) == 1:
            asm.goto(ranges[0].target)
        else:
            self._search(ranges, None)

    def _enosys_stub(self, section: Section, after: str) -> None:
        """runc's stub: a number above the newest the profile names fails with ENOSYS (x86_64: per mode)."""
        if section.newest is None and section.newest_x32 is None:
            return
        enosys = self._return(abi.SECCOMP_RET_ERRNO | _ENOSYS)
        if section.audit_arch == abi.AUDIT_ARCH_X86_64:
            x32_mode = next(self.fresh)
            self.asm.jump(cbpf.BPF_JSET, X32_SYSCALL_BIT, x32_mode, None)
            self._above(section.newest, enosys, after, last=False)
            self.asm.label(x32_mode)
            self._above(section.newest_x32, enosys, after, last=True)
        else:
            self._above(section.newest, enosys, after, last=True)

    def _above(self, newest: int | None, enosys: str, after: str, last: bool) -> None:
        if newest is not None:
            self.asm.jump(cbpf.BPF_JGT, newest, enosys, after)
        elif not last:
            self.asm.goto(after)

    def _ranges(self, syscalls: tuple[SyscallPlan, ...]) -> list[_Range]:
        """The whole u32 number space as ranges of one target each: a syscall's meaning, or the default action."""
        default = self._return(self.plan.default_action)
        ranges: list[_Range] = []
        expected = 0
        for syscall in syscalls:
            if syscall.nr > expected:
                ranges.append(_Range(expected, default))
            ranges.append(_Range(syscall.nr, self._target(syscall)))
            expected = syscall.nr + 1
        if expected <= _U32:
            ranges.append(_Range(expected, default))
        merged = [ranges[0]]
        for span in ranges[1:]:
            if span.target != merged[-1].target:
                merged.append(span)
        return merged

    def _target(self, syscall: SyscallPlan) -> str:
        """Where a syscall's meaning is: a shared `ret` for one unconditional rule, else code emitted later."""
        if len(syscall.rules) == 1 and not syscall.rules[0].conditions:
            return self._return(syscall.rules[0].action)
        key = (syscall.rules, syscall.wide)
        if key not in self.bodies:
            self.bodies[key] = next(self.fresh)
            self.pending.append(syscall)
        return self.bodies[key]

    def _search(self, ranges: list[_Range], label: str | None) -> None:
        """A binary search: `nr >= start of the middle range` splits the ranges in two, down to single ones."""
        if label is not None:
            self.asm.label(label)
        middle = len(ranges) // 2
        lower, upper = ranges[:middle], ranges[middle:]
        lower_label = lower[0].target if len(lower) == 1 else next(self.fresh)
        upper_label = upper[0].target if len(upper) == 1 else next(self.fresh)
        self.asm.jump(cbpf.BPF_JGE, upper[0].start, upper_label, lower_label)
        if len(lower) > 1:
            self._search(lower, lower_label)
        if len(upper) > 1:
            self._search(upper, upper_label)

    def _body(self, syscall: SyscallPlan) -> None:
        """The conditional rules of one meaning, tried in order, then the default action."""
        self.asm.label(self.bodies[(syscall.rules, syscall.wide)])
        for position, rule in enumerate(syscall.rules):
            last = position == len(syscall.rules) - 1
            fail = self._return(self.plan.default_action) if last else next(self.fresh)
            for condition in rule.conditions:
                _Comparison(self.asm, self.fresh, condition, syscall.wide, fail).emit()
            self.asm.ret(rule.action)
            if not last:
                self.asm.label(fail)


_ENOSYS = 38


class _Comparison:
    """The code of one condition: falls through to the next instruction when it holds, else jumps to `fail`."""

    def __init__(self, asm: Assembler, fresh, condition: SeccompArg, wide: bool, fail: str) -> None:
        self.asm, self.fresh, self.condition, self.fail = asm, fresh, condition, fail
        low, high = abi.arg_offsets(condition.index)
        value, two = condition.value, condition.value_two
        # (offset, value, valueTwo) of each half to compare, high half first; a 32-bit ABI has only the low one.
        self.halves = [(low, value & _U32, two & _U32)]
        if wide:
            self.halves.insert(0, (high, value >> 32, two >> 32))

    def emit(self) -> None:
        op = self.condition.op
        if op in ("SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ"):
            for offset, value, two in self.halves:
                self.asm.load_word(offset)
                if op == "SCMP_CMP_MASKED_EQ":
                    self.asm.and_constant(value)
                    value = two & value  # libseccomp masks both sides
                self.asm.jump(cbpf.BPF_JEQ, value, None, self.fail)
            return
        holds = next(self.fresh)
        if op == "SCMP_CMP_NE":
            for position, (offset, value, _) in enumerate(self.halves):
                self.asm.load_word(offset)
                last = position == len(self.halves) - 1
                self.asm.jump(cbpf.BPF_JEQ, value, self.fail if last else None, holds)
        else:
            self._ordered(op, holds)
        self.asm.label(holds)

    def _ordered(self, op: str, holds: str) -> None:
        """LT, LE, GT, GE on unsigned values: the high halves decide unless equal, then the low ones do."""
        greater = op in ("SCMP_CMP_GT", "SCMP_CMP_GE")
        # On the low (last) half: GT and LE hinge on `>`, GE and LT on `>=`.
        low_test = cbpf.BPF_JGT if op in ("SCMP_CMP_GT", "SCMP_CMP_LE") else cbpf.BPF_JGE
        for position, (offset, value, _) in enumerate(self.halves):
            self.asm.load_word(offset)
            if position == len(self.halves) - 1:
                self.asm.jump(low_test, value, holds if greater else self.fail, self.fail if greater else holds)
            else:
                # High half: strictly above decides for GT/GE (holds) and against LT/LE; equal goes on to the
                # low half; strictly below decides the other way.
                self.asm.jump(cbpf.BPF_JGT, value, holds if greater else self.fail, None)
                self.asm.jump(cbpf.BPF_JEQ, value, None, self.fail if greater else holds)
