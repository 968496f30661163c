"""linux.resources.devices on cgroup v2: the rules compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program, attached."""

import errno
import functools

from . import bpf
from .bpf import R0, R1, R2, R3, R4, R5
from .errors import ContainerError, SpecError, SyscallError
from .spec_json import INT32_MAX
from .spec_resources import DeviceRule
from .syscalls import Syscalls

# runc's AllowedDevices (libcontainer/specconv), plus /dev/console: mknod of anything, the basic character devices,
# the pseudo-terminals and /dev/ptmx.
DEFAULT_RULES = (
    DeviceRule(allow=True, type="c", access="m"),
    DeviceRule(allow=True, type="b", access="m"),
    DeviceRule(allow=True, type="c", major=1, minor=3),  # /dev/null
    DeviceRule(allow=True, type="c", major=1, minor=8),  # /dev/random
    DeviceRule(allow=True, type="c", major=1, minor=7),  # /dev/full
    DeviceRule(allow=True, type="c", major=5, minor=0),  # /dev/tty
    DeviceRule(allow=True, type="c", major=1, minor=5),  # /dev/zero
    DeviceRule(allow=True, type="c", major=1, minor=9),  # /dev/urandom
    DeviceRule(allow=True, type="c", major=5, minor=1),  # /dev/console
    DeviceRule(allow=True, type="c", major=136),  # /dev/pts/*
    DeviceRule(allow=True, type="c", major=5, minor=2),  # /dev/ptmx
)
_ACCESS_BITS = {"m": bpf.BPF_DEVCG_ACC_MKNOD, "r": bpf.BPF_DEVCG_ACC_READ, "w": bpf.BPF_DEVCG_ACC_WRITE}
_TYPE_CODES = {"b": bpf.BPF_DEVCG_DEV_BLOCK, "c": bpf.BPF_DEVCG_DEV_CHAR}
ALL_ACCESS = bpf.BPF_DEVCG_ACC_MKNOD | bpf.BPF_DEVCG_ACC_READ | bpf.BPF_DEVCG_ACC_WRITE
LICENSE = "Apache"  # the program calls no GPL-only helper
PROGRAM_NAME = "kharness_dev"
VERIFIER_LOG_SIZE = 1 << 20
_DEFAULT_LABEL = "default"


def access_mask(access: str) -> int:
    """The BPF_DEVCG_ACC_* bits of an access string like "rwm"."""
    return sum(_ACCESS_BITS[letter] for letter in set(access))


def effective_rules(rules: tuple[DeviceRule, ...]) -> tuple[DeviceRule, ...]:
    """The spec's rules followed by the defaults, in evaluation order (the last match wins)."""
    return tuple(rules) + DEFAULT_RULES


def rule_matches(rule: DeviceRule, device_type: str, major: int, minor: int, access: int) -> bool:
    """Whether `rule` decides the request (see rules_allow); `access` holds BPF_DEVCG_ACC_* bits."""
    if rule.type != "a" and rule.type != device_type:
        return False
    if rule.major is not None and rule.major != major or rule.minor is not None and rule.minor != minor:
        return False
    granted = access_mask(rule.access)
    return access & granted == access if rule.allow else access & granted != 0


def rules_allow(rules: tuple[DeviceRule, ...], device_type: str, major: int, minor: int, access: int) -> bool:
    """The decision for one request, which compile_rules implements (no defaults added here).

    The kernel asks about one request: a device type (b or c), major, minor and a set of accesses (r, w, m). The
    LAST rule that matches decides, as in runc's devicefilter; when none matches the request is denied. A rule
    matches when its type is "a" or the request's, its major and minor are wildcards or equal, and, for an allow
    rule, every requested access is among its accesses; for a deny rule, any requested access is (so "deny c 1:3 w"
    also refuses a read-write open, which a subset test would let an earlier allow rule through). runc's default
    devices are appended after the spec's rules (effective_rules), so they always win.
    """
    for rule in reversed(rules):
        if rule_matches(rule, device_type, major, minor, access):
            return rule.allow
    return False


# Cached: a runtime process that creates many containers (the library API in a test session) mostly passes the same
# rules, and assembling them cost ~20 ms per container under TCG. The rules are frozen records, the result is bytes.
@functools.lru_cache(maxsize=32)
def compile_rules(rules: tuple[DeviceRule, ...], path: str = "linux.resources.devices") -> bytes:
    """The encoded program deciding as rules_allow(rules, ...) does; `path` names the rules in errors.

    Blocks are emitted from the last rule to the first, each jumping to the next block when a condition fails.
    After a rule that matches everything no later block could run, and the verifier refuses unreachable code.
    """
    asm = bpf.Assembler()
    asm.load_word(R2, R1, 0)  # R2 = device type: the low 16 bits of access_type
    asm.and_imm32(R2, 0xFFFF)
    asm.load_word(R3, R1, 0)  # R3 = requested access: the high 16 bits
    asm.rsh_imm32(R3, 16)
    asm.load_word(R4, R1, 4)  # R4 = major
    asm.load_word(R5, R1, 8)  # R5 = minor
    for block, index in enumerate(reversed(range(len(rules)))):
        rule = rules[index]
        if not _emit_rule(asm, rule, f"{path}[{index}]", next_block=f"block{block + 1}"):
            return asm.assemble()  # unconditional: nothing after it is reachable
        asm.label(f"block{block + 1}")
    asm.mov_imm32(R0, 0)
    asm.exit()
    return asm.assemble()


def _emit_rule(asm: bpf.Assembler, rule: DeviceRule, path: str, next_block: str) -> bool:
    """Emit one rule's block; returns whether it had any condition (False: it matches every request)."""
    conditions = 0
    if rule.type != "a":
        asm.jump_imm(bpf.BPF_JNE, R2, _TYPE_CODES[rule.type], next_block)
        conditions += 1
    mask = access_mask(rule.access)
    if rule.allow and mask != ALL_ACCESS:
        asm.mov_reg32(R1, R3)  # R1 (the ctx pointer, no longer needed) as scratch
        asm.and_imm32(R1, mask)
        asm.jump_reg(bpf.BPF_JNE, R1, R3, next_block)  # some requested access is not granted
        conditions += 1
    elif not rule.allow and mask != ALL_ACCESS:
        asm.mov_reg32(R1, R3)
        asm.and_imm32(R1, mask)
        asm.jump_imm(bpf.BPF_JEQ, R1, 0, next_block)  # no requested access is denied
        conditions += 1
    for register, field, value in ((R4, "major", rule.major), (R5, "minor", rule.minor)):
        if value is None:
            continue
        if value > INT32_MAX:
            # The comparison's immediate is a signed 32-bit number; Linux numbers are 12 and 20 bits anyway.
            raise SpecError(f"{path}.{field}", f"{value} is above {INT32_MAX}")
        asm.jump_imm(bpf.BPF_JNE, register, value, next_block)
        conditions += 1
    asm.mov_imm32(R0, 1 if rule.allow else 0)
    asm.exit()
    return conditions > 0


def attach_device_filter(rules: tuple[DeviceRule, ...], cgroup_fd: int, syscalls: Syscalls) -> None:
    """Compile the spec's rules plus the defaults, load the program and attach it to the cgroup `cgroup_fd`.

    The attachment holds a reference to the program, so its fd is closed right away; the program goes when the
    cgroup is removed.
    """
    program = compile_rules(effective_rules(rules))
    prog_fd = _load(program, syscalls)
    try:
        syscalls.bpf_prog_attach(cgroup_fd, prog_fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
    except SyscallError as error:
        raise ContainerError(f"linux.resources.devices: attaching the device program to the cgroup: {error}") \
            from error
    finally:
        syscalls.close(prog_fd)


def _load(program: bytes, syscalls: Syscalls) -> int:
    try:
        return syscalls.bpf_prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program, LICENSE, PROGRAM_NAME,
                                      expected_attach_type=bpf.BPF_CGROUP_DEVICE)
    except SyscallError as error:
        if error.errno == errno.EPERM:
            loaded = _load_with_memlock_lifted(program, syscalls)
            if loaded is not None:
                return loaded
        # Otherwise loaded again below with a log buffer: the verifier says why only when it is given one.
    try:
        return syscalls.bpf_prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program, LICENSE, PROGRAM_NAME,
                                      expected_attach_type=bpf.BPF_CGROUP_DEVICE, log_size=VERIFIER_LOG_SIZE)
    except SyscallError as error:
        log = getattr(error, "verifier_log", "").strip()
        raise ContainerError(f"linux.resources.devices: loading the device program: {error}"
                             + (f"; verifier log:\n{log}" if log else "")) from error


def _load_with_memlock_lifted(program: bytes, syscalls: Syscalls) -> int | None:
    """The load again with RLIMIT_MEMLOCK lifted, or None if that cannot be done or does not help.

    Before Linux 5.11 a BPF program's memory is charged against RLIMIT_MEMLOCK, and the programs that the
    user's other containers hold count too: the 17th container of a host fails with EPERM (seen on 5.10 with 16
    concurrent creates). runc lifts the limit as well; here only around the load, so that the container, forked
    later by this process, inherits the limit it had.
    """
    import resource
    saved = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if saved[0] == resource.RLIM_INFINITY:
        return None  # not the limit, then
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):  # without CAP_SYS_RESOURCE: the hard limit is as far as it goes
        if saved[0] == saved[1]:
            return None
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (saved[1], saved[1]))
    try:
        return syscalls.bpf_prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program, LICENSE, PROGRAM_NAME,
                                      expected_attach_type=bpf.BPF_CGROUP_DEVICE)
    except SyscallError:
        return None
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, saved)
