"""A sealed in-memory exec stub, so no container process ever execs while /proc/self/exe is the host's interpreter.

Why (CVE-2019-5736): the container's init and `exec`'s child are the runtime's own Python until their final
execve. If that execve runs a script starting `#!/proc/self/exe`, the kernel resolves the interpreter as the
*caller's* executable, the host's python, which then runs inside the container, where a process can open
/proc/PID/exe and write the host binary once nothing executes it. runc's answer is to run from a sealed memfd
copy of itself; ours is to exec, last, a 193-byte static program from a sealed memfd, which then execs the
container's program. At that final execve /proc/self/exe is the sealed memfd: nothing to overwrite.

The stub (x86_64; assembled from the listing below with GNU as, `objcopy -O binary -j .text`) is called as
    argv = ["\\x01" + chr(report_fd), path, argv0, argv1, ...], envp = the container's environment
It checks that argv[0] starts with \\x01 and argc >= 3 (a script's `#!/proc/self/exe` calls it with argv[0]
"/proc/self/exe": it refuses, exit 126, rather than loop), sets FD_CLOEXEC on report_fd, and execve(path,
&argv[2], envp). On failure it writes b"\\0" + the 4-byte little-endian errno to report_fd and exits 127; the
runtime reads that as the execve's error. On success report_fd closes with the exec: EOF, as before.

    _start:   mov rbx,[rsp+8]; cmp byte [rbx],1; jne refuse     ; argv[0] must be ours
              movzx r12d,byte [rbx+1]                           ; report fd
              mov rcx,[rsp]; cmp rcx,3; jb refuse               ; argc >= 3
              fcntl(r12d, F_SETFD, FD_CLOEXEC)                  ; mov edi,r12d; mov esi,2; mov edx,1; eax=72
              execve([rsp+16], rsp+24, rsp+8*argc+16)           ; eax=59
              neg eax; sub rsp,16; mov byte [rsp],0; mov [rsp+1],eax
              write(r12d, rsp, 5); mov edi,127; jmp leave       ; eax=1
    refuse:   write(2, message, 47); mov edi,126                ; eax=1
    leave:    exit_group(edi)                                   ; eax=231
    message:  "kharness exec stub: only the runtime runs this\\n"

Other architectures have no stub yet: `stub_fd()` returns None there and the runtime execs directly (the
harness's guests are x86_64).
"""

import fcntl
import os
import struct

MACHINE = "x86_64"
# The marker byte that argv[0] starts with when the runtime, not a script, runs the stub.
MARKER = 1
EXIT_REFUSED = 126
EXIT_EXEC_FAILED = 127
# What the stub writes to the report fd when execve fails: NUL, then the errno as a little-endian u32.
REPORT_LENGTH = 5

_CODE = bytes.fromhex(
    "488b5c2408803b0175" "64440fb663" "01488b0c24" "4883f903" "7255" "4489e7" "be02000000" "ba01000000"
    "b848000000" "0f05" "488b0c24" "488b7c2410" "488d742418" "488d54cc10" "b83b000000" "0f05" "f7d8"
    "4883ec10" "c6042400" "89442401" "4489e7" "4889e6" "ba05000000" "b801000000" "0f05" "bf7f000000" "eb1d"
    "bf02000000" "488d3518000000" "ba2f000000" "b801000000" "0f05" "bf7e000000" "b8e7000000" "0f05"
) + b"kharness exec stub: only the runtime runs this\n"

_LOAD_ADDRESS = 0x400000
_ELF_HEADER_SIZE, _PROGRAM_HEADER_SIZE = 64, 56


def stub_elf() -> bytes:
    """The stub as a static ELF64 executable: one header, one read+execute PT_LOAD segment, the code."""
    entry = _LOAD_ADDRESS + _ELF_HEADER_SIZE + _PROGRAM_HEADER_SIZE
    size = _ELF_HEADER_SIZE + _PROGRAM_HEADER_SIZE + len(_CODE)
    header = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,  # 64-bit, little-endian, version 1, System V ABI
        2, 62, 1,  # ET_EXEC, EM_X86_64, EV_CURRENT
        entry, _ELF_HEADER_SIZE, 0, 0,  # entry, program headers right after, no section headers, flags
        _ELF_HEADER_SIZE, _PROGRAM_HEADER_SIZE, 1, 0, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, size, size, 0x1000)  # PT_LOAD, R+X
    return header + program + _CODE


_sealed_fd: int | None = None


def stub_fd() -> int | None:
    """A close-on-exec fd of a sealed memfd holding the stub, made once per process; None off x86_64."""
    global _sealed_fd
    if os.uname().machine != MACHINE:
        return None
    if _sealed_fd is None:
        _sealed_fd = _sealed_memfd(stub_elf())
    return _sealed_fd


def _sealed_memfd(data: bytes) -> int:
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        # MFD_EXEC (Linux 6.3) says on purpose that this memfd is executable (vm.memfd_noexec would warn).
        fd = os.memfd_create("kharness-exec-stub", flags | _MFD_EXEC)
    except OSError:
        fd = os.memfd_create("kharness-exec-stub", flags)  # an older kernel: EINVAL for the unknown flag
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o555)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


_MFD_EXEC = 0x10


def stub_argv(report_fd: int, path: str, args: tuple[str, ...]) -> list[bytes]:
    """The stub's argv: the marker and the report fd in argv[0], then the program's path and its own argv."""
    if not 3 <= report_fd < 128:
        raise ValueError(f"the stub's report fd must be in [3, 128), got {report_fd}")
    return [bytes((MARKER, report_fd)), os.fsencode(path), *(os.fsencode(arg) for arg in args)]


def parse_report(data: bytes) -> int | None:
    """The errno of a failed execve that the stub reported, or None if `data` is not such a report."""
    if len(data) == REPORT_LENGTH and data[0] == 0:
        return struct.unpack("<I", data[1:])[0]
    return None
