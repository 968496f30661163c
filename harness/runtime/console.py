"""A container's terminal (`process.terminal`): a pty made in the container's devpts, its master sent to the caller's
`--console-socket` over SCM_RIGHTS, its slave the init's controlling terminal and stdio (runc's setupConsole)."""

import os

# What runc sends beside the descriptor: the name of the terminal (podman and containerd ignore it).
CONSOLE_NAME = b"/dev/ptmx"


def connect_console_socket(path: str):  # -> socket.socket
    """The runtime's connection to the caller's AF_UNIX socket, made before the init forks (as runc does): the
    path is the caller's, resolved in the runtime's filesystem, never in the container's."""
    import socket  # only here: `socket` costs every CLI start ~3 ms natively, and few containers want a terminal
    # What set_up_console needs, imported now: it runs after pivot_root, where the interpreter's library is gone.
    for module in ("fcntl", "struct", "termios"):
        __import__(module)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError as error:
        connection.close()
        raise OSError(error.errno, f"--console-socket {path}: cannot connect ({error.strerror})") from error
    return connection


def set_up_console(connection_fd: int, rows: int = 0, columns: int = 0) -> None:
    """In the init, after pivot_root: open a pty in the container's /dev/ptmx (its own devpts instance), send the
    master over `connection_fd`, make the slave the controlling terminal of a new session and stdio 0, 1 and 2."""
    import fcntl  # all imported by connect_console_socket already, before the fork and pivot_root
    import socket
    import struct
    import termios

    master, slave = os.openpty()  # /dev/ptmx after pivot_root: the container's devpts, so /dev/pts/N exists inside
    try:
        if rows or columns:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        with socket.socket(fileno=os.dup(connection_fd)) as connection:
            socket.send_fds(connection, [CONSOLE_NAME], [master])
    finally:
        os.close(master)  # the caller holds it now; a copy here would keep the terminal open after the caller's
    os.close(connection_fd)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


def receive_console(listener, timeout: float = 30.0) -> int:
    """The caller's side (tests): accept the runtime's connection on `listener` (a listening AF_UNIX socket) and take
    the master it sends."""
    import socket
    listener.settimeout(timeout)
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(timeout)
        _, fds, _, _ = socket.recv_fds(connection, 1024, 1)
    if not fds:
        raise OSError("the runtime closed the console socket without sending a terminal")
    return fds[0]
