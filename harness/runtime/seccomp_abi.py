"""The kernel's seccomp ABI: AUDIT_ARCH values, SECCOMP_RET_* actions, filter flags, struct seccomp_data."""

import struct

# --- AUDIT_ARCH_* (include/uapi/linux/audit.h): seccomp_data.arch of a syscall ---
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028

# libseccomp's architecture names -> the AUDIT_ARCH their syscalls carry (x32 shares x86_64's, with
# __X32_SYSCALL_BIT set in the syscall number) and whether their arguments are 64 bits wide (libseccomp compares
# only the low 32 bits of an argument on a 32-bit ABI, x32 included).
AUDIT_ARCHES = {
    "SCMP_ARCH_X86_64": AUDIT_ARCH_X86_64,
    "SCMP_ARCH_X86": AUDIT_ARCH_I386,
    "SCMP_ARCH_X32": AUDIT_ARCH_X86_64,
    "SCMP_ARCH_AARCH64": AUDIT_ARCH_AARCH64,
    "SCMP_ARCH_ARM": AUDIT_ARCH_ARM,
}
WIDE_ARGUMENTS = {"SCMP_ARCH_X86_64": True, "SCMP_ARCH_X86": False, "SCMP_ARCH_X32": False,
                  "SCMP_ARCH_AARCH64": True, "SCMP_ARCH_ARM": False}
# os.uname().machine -> its own libseccomp architecture, and every one its kernel can run syscalls of.
NATIVE_ARCHES = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
RUNNABLE_ARCHES = {
    "x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
}

# --- return values of a filter (include/uapi/linux/seccomp.h) ---
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
# The kernel's order when several filters (or, here, several rules) disagree: the first of this list wins.
PRECEDENCE = (SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
              SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW)

# --- seccomp(2) and prctl(2) ---
SECCOMP_SET_MODE_FILTER = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
FILTER_FLAG_NAMES = {bit: name for name, bit in FILTER_FLAGS.items()}

# --- struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6] ---
SECCOMP_DATA = struct.Struct("=iIQ6Q")
NR_OFFSET = 0
ARCH_OFFSET = 4


def arg_offsets(index: int) -> tuple[int, int]:
    """(offset of the low, offset of the high) 32-bit half of args[index], on a little-endian machine."""
    low = 16 + 8 * index
    return low, low + 4


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = (), instruction_pointer: int = 0) -> bytes:
    """struct seccomp_data as the kernel hands it to a filter; `nr` may be given as an unsigned 32-bit value."""
    padded = tuple(args) + (0,) * (6 - len(args))
    signed = nr - (1 << 32) if nr >= 1 << 31 else nr
    return SECCOMP_DATA.pack(signed, arch, instruction_pointer, *padded)


def action_name(value: int) -> str:
    """`SECCOMP_RET_ERRNO|1` for 0x00050001: how a filter's result reads in an error or a test diff."""
    names = {SECCOMP_RET_KILL_PROCESS: "SECCOMP_RET_KILL_PROCESS", SECCOMP_RET_KILL_THREAD: "SECCOMP_RET_KILL_THREAD",
             SECCOMP_RET_TRAP: "SECCOMP_RET_TRAP", SECCOMP_RET_ERRNO: "SECCOMP_RET_ERRNO",
             SECCOMP_RET_TRACE: "SECCOMP_RET_TRACE", SECCOMP_RET_LOG: "SECCOMP_RET_LOG",
             SECCOMP_RET_ALLOW: "SECCOMP_RET_ALLOW"}
    action, data = value & SECCOMP_RET_ACTION_FULL, value & SECCOMP_RET_DATA
    name = names.get(action, hex(action))
    return f"{name}|{data}" if data else name
