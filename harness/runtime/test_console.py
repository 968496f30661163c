"""Tests of process.terminal with --console-socket: the master reaches the caller, the container's stdio is the
pty's slave and its controlling terminal; a terminal without a socket (and the reverse) is a clear error."""

import os
import select
import socket

import pytest

from harness.runtime import api
from harness.runtime.console import receive_console
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.rootfs_builder import busybox_path

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)")
needs_busybox = pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}")


def _with_terminal(config: dict) -> None:
    config["process"]["terminal"] = True


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    """What the pty master gives until `marker` shows up (or EOF/EIO once the slave side is gone)."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"no {marker!r} from the terminal in {timeout} s; got {seen!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every slave descriptor is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


@needs_root
@needs_busybox
def test_terminal_master_is_sent_and_the_slave_is_the_controlling_tty(make_bundle, state_root, tmp_path):
    """With process.terminal and a console socket, the caller receives a pty master; what the container writes
    comes out of it, its stdin/stdout are /dev/pts/N of its own devpts, and that is its controlling terminal."""
    bundle = make_bundle(["sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; cat /proc/self/stat | cut -d' ' -f7; "
                                      "echo done"], edit=_with_terminal)
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        api.create(bundle, "t1", root=state_root, console_socket=path)
        master = receive_console(listener)
    try:
        api.start("t1", root=state_root)
        text = _read_until(master, b"done").decode(errors="replace")
    finally:
        os.close(master)
    assert api.wait("t1", root=state_root) == 0
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0].startswith("/dev/pts/") and "stdin-is-tty" in lines
    # Field 7 of /proc/self/stat is tty_nr: nonzero when the process has a controlling terminal.
    assert int(lines[lines.index("stdin-is-tty") + 1]) != 0


@needs_root
@needs_busybox
def test_terminal_without_a_console_socket_is_refused_naming_the_field(make_bundle, state_root):
    """process.terminal true with no console socket fails before anything is made, naming the field and the fix."""
    bundle = make_bundle(["true"], edit=_with_terminal)
    with pytest.raises(SpecError, match=r"process\.terminal: true, but no console socket: pass --console-socket"):
        api.create(bundle, "t2", root=state_root)
    assert api.list_containers(state_root) == []


@needs_root
@needs_busybox
def test_console_socket_without_a_terminal_is_refused(make_bundle, state_root, tmp_path):
    """A console socket for a config without a terminal is a mistake the caller should hear about."""
    bundle = make_bundle(["true"])
    with pytest.raises(ContainerError, match=r"--console-socket .*process\.terminal is false"):
        api.create(bundle, "t3", root=state_root, console_socket=str(tmp_path / "nowhere.sock"))


@needs_root
@needs_busybox
def test_unreachable_console_socket_names_the_path_and_leaves_nothing(make_bundle, state_root, tmp_path):
    """A console socket path nobody listens on fails create with the path named; no state or process is left."""
    bundle = make_bundle(["true"], edit=_with_terminal)
    with pytest.raises(OSError, match=r"--console-socket .*nowhere\.sock: cannot connect"):
        api.create(bundle, "t4", root=state_root, console_socket=str(tmp_path / "nowhere.sock"))
    assert api.list_containers(state_root) == [] and not os.path.exists(os.path.join(state_root, "t4"))


@needs_root
@needs_busybox
def test_console_size_is_the_terminals_size(make_bundle, state_root, tmp_path):
    """process.consoleSize sets the pty's rows and columns: `stty size` in the container prints them."""
    def edit(config: dict) -> None:
        config["process"]["terminal"] = True
        config["process"]["consoleSize"] = {"height": 31, "width": 97}
    bundle = make_bundle(["sh", "-c", "echo size:$(stty size); echo done"], edit=edit)
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        api.create(bundle, "t5", root=state_root, console_socket=path)
        master = receive_console(listener)
    try:
        api.start("t5", root=state_root)
        text = _read_until(master, b"done").decode(errors="replace")
    finally:
        os.close(master)
    assert "size:31 97" in text, text
