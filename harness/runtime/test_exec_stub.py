"""The sealed exec stub: it execs the program, reports a failed execve's errno, refuses to be a script's interpreter."""

import errno
import os
import subprocess

import pytest

from harness.runtime import exec_stub

pytestmark = pytest.mark.skipif(os.uname().machine != exec_stub.MACHINE, reason="the stub is x86_64 code")


def _run_stub(path: str, args: tuple[str, ...], report_fd: int = 5) -> tuple[int, bytes, bytes]:
    """Fork, exec the stub for `path`/`args` with a pipe on `report_fd`; (exit code, stdout, report)."""
    out_r, out_w = os.pipe()
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.dup2(report_w, report_fd)
            os.execve(exec_stub.stub_fd(), exec_stub.stub_argv(report_fd, path, args), {"GREETING": "hi"})
        finally:
            os._exit(99)
    os.close(out_w)
    os.close(report_w)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(out_r, "rb") as out, os.fdopen(report_r, "rb") as report:
        return os.waitstatus_to_exitcode(status), out.read(), report.read()


def test_stub_execs_the_program_with_its_argv_and_env():
    """argv[2:] becomes the program's argv and the environment passes unchanged; the report fd closes on exec."""
    code, out, report = _run_stub("/bin/sh", ("sh", "-c", 'echo "$0 $GREETING"'))
    assert (code, out, report) == (0, b"sh hi\n", b"")


def test_failed_execve_is_reported_as_errno():
    """A program that cannot be executed: exit 127 and the errno (ENOENT) as a 5-byte report."""
    code, _, report = _run_stub("/nonexistent/program", ("program",))
    assert code == exec_stub.EXIT_EXEC_FAILED
    assert exec_stub.parse_report(report) == errno.ENOENT


def test_stub_refuses_to_run_as_a_scripts_interpreter(tmp_path):
    """`#!/proc/self/exe` in a script run while the stub is /proc/self/exe: it refuses (126), it does not loop."""
    fd = exec_stub.stub_fd()
    result = subprocess.run([f"/proc/self/fd/{fd}", "/bin/true"], pass_fds=(fd,), capture_output=True, timeout=10)
    assert result.returncode == exec_stub.EXIT_REFUSED
    assert b"only the runtime runs this" in result.stderr


def test_stub_memfd_is_sealed_against_writes():
    """The memfd cannot be written through its magic link (CVE-2019-5736: /proc/PID/exe opened for writing)."""
    fd = exec_stub.stub_fd()
    with pytest.raises(PermissionError):
        writer = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)  # F_SEAL_WRITE lets the open through, not a write
        try:
            os.write(writer, b"\xcc")
        finally:
            os.close(writer)
    with pytest.raises(PermissionError):
        os.truncate(f"/proc/self/fd/{fd}", 0)
    assert os.pread(fd, os.fstat(fd).st_size, 0) == exec_stub.stub_elf()


def test_stub_argv_carries_marker_and_report_fd():
    """argv[0] is the marker byte and the report fd; a report fd the byte cannot hold is refused."""
    assert exec_stub.stub_argv(7, "/bin/true", ("true",)) == [b"\x01\x07", b"/bin/true", b"true"]
    with pytest.raises(ValueError):
        exec_stub.stub_argv(200, "/bin/true", ("true",))
