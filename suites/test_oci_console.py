"""process.terminal with --console-socket, through --runtime: the caller receives the pty master over
SCM_RIGHTS, the container's stdio is the slave of a pty in its own devpts, and that is its controlling terminal."""

from __future__ import annotations

import os
import select
import socket

from harness.runtime.console import receive_console


def _read_until(fd: int, marker: bytes, timeout: float = 60.0) -> bytes:
    """What the pty master gives until `marker` shows up, or EOF/EIO once the container's side is closed."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"no {marker!r} from the container's terminal in {timeout} s; got {seen!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_console_socket_gets_the_master_of_the_containers_terminal(container, workdir):
    """With process.terminal and a console socket the master arrives; the container's `tty` is /dev/pts/N,
    its stdin is a terminal, it has a controlling terminal (tty_nr in /proc/self/stat), and what the caller
    writes to the master reaches the container's stdin."""
    config = container.config(["sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; echo ttynr:$(cut -d' ' -f7 "
                                           "/proc/self/stat); echo ready; read line; echo got:$line; echo done"])
    config["process"]["terminal"] = True
    cid = container.new_id()
    path = str(workdir / f"{cid}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        container.started.append(cid)  # deleted at teardown, whatever happens below
        container.runtime.create(container.bundles.bundle(config), cid, workdir / f"{cid}.out", console_socket=path)
        master = receive_console(listener, timeout=60.0)
    try:
        container.runtime.start(cid)
        text = _read_until(master, b"ready")
        os.write(master, b"hello\n")  # only now: the terminal echoes it, which must not land amid the lines above
        text = (text + _read_until(master, b"done")).decode(errors="replace")
    finally:
        os.close(master)
    lines = [line.strip() for line in text.splitlines()]
    assert any(line.startswith("/dev/pts/") for line in lines), text
    assert "stdin-is-tty" in lines, text
    (tty_nr,) = [line.split(":", 1)[1] for line in lines if line.startswith("ttynr:")]
    assert int(tty_nr) != 0, f"no controlling terminal: {text}"
    assert "got:hello" in lines, text
