"""Writing kernel control files (cgroup, /proc map files) in exactly one write(2), as they require."""

import os


def write_once(path: str, text: str) -> None:
    """Open, write all of `text` in a single write(2), close; OSError propagates for the caller to name."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
