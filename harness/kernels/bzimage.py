"""Read the release string of a local x86 bzImage from its setup header."""

from __future__ import annotations

import struct
from pathlib import Path


class NotAKernel(ValueError):
    """The file is not an x86 bzImage."""


def release_of(path: Path) -> str:
    """The kernel release (as `uname -r` prints it) stored in a bzImage's setup header."""
    try:
        with path.open("rb") as f:
            head = f.read(0x10000)
    except OSError as exc:
        raise NotAKernel(f"{path}: cannot read: {exc.strerror}") from None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise NotAKernel(f"{path}: not an x86 bzImage (no 'HdrS' setup header magic at 0x202)")
    offset, = struct.unpack_from("<H", head, 0x20E)
    start = offset + 0x200
    text = head[start:start + 256].split(b"\0", 1)[0].decode(errors="replace")
    return text.split(" ", 1)[0]
