"""Tests of the syscall table and its generator: parsing unistd headers, and the table against the headers this
machine has installed (an older kernel's: every number it lists must be ours too)."""

import os
import re

import pytest

from harness.runtime import constants as c
from harness.runtime.syscall_table import MULTIPLEXED, NUMBERS, X32_SYSCALL_BIT
from harness.runtime.syscall_table_gen import parse_calls, parse_unistd, render

HOST_HEADERS = "/usr/include/x86_64-linux-gnu/asm"
HOST_FILES = {"SCMP_ARCH_X86_64": "unistd_64.h", "SCMP_ARCH_X86": "unistd_32.h", "SCMP_ARCH_X32": "unistd_x32.h"}


def test_parse_unistd_reads_plain_and_x32_defines():
    """`#define __NR_x N` and x32's `#define __NR_x (__X32_SYSCALL_BIT + N)` both give N; other lines are ignored,
    and a file with no such line is refused."""
    text = ("#ifndef _ASM_UNISTD_X32_H\n#define _ASM_UNISTD_X32_H\n#define __NR_read (__X32_SYSCALL_BIT + 0)\n"
            "#define __NR_rt_sigaction (__X32_SYSCALL_BIT + 512)\n#define __NR_mkdir 83\n")
    assert parse_unistd(text) == {"read": 0, "rt_sigaction": 512, "mkdir": 83}
    with pytest.raises(ValueError, match="not a unistd header"):
        parse_unistd("#define FOO 1\n")


def test_parse_calls_reads_socketcall_and_ipc_numbers():
    """SYS_* of linux/net.h and SEM*/MSG*/SHM* of linux/ipc.h become lower-case syscall names."""
    assert parse_calls("#define SYS_SOCKET\t1\t\t/* sys_socket(2) */\n#define SYS_ACCEPT4\t18\n",
                       re.compile(r"^#define SYS_([A-Z0-9]+)\s+(\d+)\b")) == {"socket": 1, "accept4": 18}


def test_render_round_trips():
    """The rendered module, executed, holds exactly the tables it was given."""
    namespace = {}
    exec(render({"SCMP_ARCH_X86_64": {"read": 0, "mkdir": 83}}, {"ipc": {"shmat": 21}}, "a test"), namespace)
    assert namespace["NUMBERS"] == {"SCMP_ARCH_X86_64": {"read": 0, "mkdir": 83}}
    assert namespace["MULTIPLEXED"] == {"ipc": {"shmat": 21}} and namespace["X32_SYSCALL_BIT"] == 0x40000000


@pytest.mark.parametrize("arch", sorted(HOST_FILES))
def test_table_contains_the_installed_headers(arch):
    """Every syscall of this machine's installed uapi headers (linux-libc-dev, an older kernel than the table's)
    has the same number in the table: syscall numbers are never reused."""
    path = os.path.join(HOST_HEADERS, HOST_FILES[arch])
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed (linux-libc-dev)")
    with open(path) as header:
        installed = parse_unistd(header.read())
    assert installed and {name: NUMBERS[arch].get(name) for name in installed} == installed


def test_table_knows_the_well_known_numbers():
    """Spot checks from the kernel's tables: x86_64 execveat 322 and seccomp 317, i386 socketcall 102 and execveat
    358, x32's own execveat 545, arm64 execveat 281; socketcall's SYS_SOCKET is 1, ipc's SHMAT 21."""
    assert (NUMBERS["SCMP_ARCH_X86_64"]["execveat"], NUMBERS["SCMP_ARCH_X86_64"]["seccomp"]) == (322, 317)
    assert (NUMBERS["SCMP_ARCH_X86"]["socketcall"], NUMBERS["SCMP_ARCH_X86"]["execveat"]) == (102, 358)
    assert NUMBERS["SCMP_ARCH_X32"]["execveat"] == 545 and X32_SYSCALL_BIT == 1 << 30
    assert NUMBERS["SCMP_ARCH_AARCH64"]["execveat"] == 281
    assert MULTIPLEXED["socketcall"]["socket"] == 1 and MULTIPLEXED["ipc"]["shmat"] == 21


def test_the_seams_own_numbers_agree_with_the_table():
    """The syscall numbers the seam calls by number (constants.SYSCALL_NUMBERS) are the table's."""
    for machine, arch in (("x86_64", "SCMP_ARCH_X86_64"), ("aarch64", "SCMP_ARCH_AARCH64")):
        for name, number in c.SYSCALL_NUMBERS[machine].items():
            assert NUMBERS[arch][name] == number, (machine, name)
