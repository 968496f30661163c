"""The results channel: framed files and an exit status, sent by the guest over its second serial port.

The guest writes to /dev/ttyS1, which QEMU writes to a host file. A serial line may add
carriage returns and the kernel console never shares it, but to stay robust against any tty
translation each file travels base64-encoded between a header and a trailer line:

    KHARNESS-FILE <name> <size> <sha256>
    <base64, 76 characters a line>
    KHARNESS-END <name>
    ...
    KHARNESS-EXIT <status>

The host accepts a file only when its size and sha256 match, and the run only with an EXIT line.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field

FILE, END, EXIT = "KHARNESS-FILE", "KHARNESS-END", "KHARNESS-EXIT"
# A result is written under the host's output directory by this name: no paths, no dot-files.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def safe_name(name: str) -> bool:
    return bool(_SAFE_NAME.match(name))


def encode_file(name: str, data: bytes) -> bytes:
    """One framed file."""
    if not safe_name(name):
        raise ValueError(f"result file name {name!r} must be a plain file name (letters, digits, _ . -)")
    body = base64.encodebytes(data).decode()
    head = f"{FILE} {name} {len(data)} {hashlib.sha256(data).hexdigest()}\n"
    return (head + body + f"{END} {name}\n").encode()


def encode_exit(status: int) -> bytes:
    return f"{EXIT} {status}\n".encode()


@dataclass
class Results:
    """What the guest sent: files by name, the exit status (None if it never arrived), problems."""

    files: dict[str, bytes] = field(default_factory=dict)
    exit_status: int | None = None
    errors: list[str] = field(default_factory=list)


def decode(stream: bytes) -> Results:
    """Parse everything the guest wrote; a damaged or truncated file is reported, not guessed."""
    results = Results()
    current: tuple[str, int, str] | None = None
    body: list[str] = []
    for raw in stream.decode(errors="replace").replace("\r", "").split("\n"):
        line = raw.strip()
        if current is None:
            if line.startswith(FILE + " "):
                parts = line.split()
                if len(parts) != 4 or not parts[2].isdigit() or not safe_name(parts[1]):
                    results.errors.append(f"malformed header: {line[:80]!r}")
                    continue
                current = (parts[1], int(parts[2]), parts[3])
                body = []
            elif line.startswith(EXIT + " "):
                try:
                    results.exit_status = int(line.split()[1])
                except (IndexError, ValueError):
                    results.errors.append(f"malformed exit line: {line[:80]!r}")
            continue
        if line == f"{END} {current[0]}":
            name, size, digest = current
            try:
                data = base64.b64decode("".join(body), validate=True)
            except ValueError as exc:
                results.errors.append(f"{name}: bad base64 ({exc})")
            else:
                if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                    results.errors.append(f"{name}: size or sha256 mismatch (damaged in transit)")
                else:
                    results.files[name] = data
            current = None
        else:
            body.append(line)
    if current is not None:
        results.errors.append(f"{current[0]}: truncated (no {END} line; the guest stopped while sending)")
    return results
