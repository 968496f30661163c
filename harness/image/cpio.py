"""A writer of the newc cpio format the kernel unpacks as an initramfs."""

from __future__ import annotations

import stat
from typing import BinaryIO

TRAILER = "TRAILER!!!"


class CpioWriter:
    """Write newc entries to a binary stream; close() writes the trailer."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.ino = 1
        self.size = 0

    def _entry(self, name: str, mode: int, data: bytes = b"", mtime: int = 0, nlink: int = 1,
               rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        header = "070701" + "".join(
            f"{v:08x}" for v in (
                self.ino, mode, 0, 0, nlink, int(mtime) & 0xFFFFFFFF, len(data),
                0, 0, rdev[0], rdev[1], len(encoded), 0,
            )
        )
        self.ino += 1
        chunk = header.encode() + encoded
        chunk += b"\0" * (-len(chunk) % 4)
        self.out.write(chunk)
        self.out.write(data)
        pad = b"\0" * (-len(data) % 4)
        self.out.write(pad)
        self.size += len(chunk) + len(data) + len(pad)

    def directory(self, name: str, mode: int = 0o755, mtime: int = 0) -> None:
        self._entry(name, stat.S_IFDIR | mode, nlink=2, mtime=mtime)

    def file(self, name: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> None:
        self._entry(name, stat.S_IFREG | mode, data, mtime=mtime)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self) -> None:
        self._entry(TRAILER, 0, nlink=1)
        # The kernel reads initramfs in 512-byte blocks; pad like GNU cpio does.
        pad = b"\0" * (-self.size % 512)
        self.out.write(pad)
        self.size += len(pad)
