"""ELF files and their shared-library closure, as the dynamic loader of this host resolves it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

_ARROW = re.compile(r"=>\s+(/\S+)")
_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x")


class ClosureError(RuntimeError):
    """A shared library an ELF file needs is missing on the host."""


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _ldd(paths: list[Path]) -> str:
    result = subprocess.run(["ldd", *map(str, paths)], capture_output=True, text=True)
    # ldd exits 1 when one of several files is static; its output still lists the others.
    return result.stdout


def library_closure(elves: list[Path], batch: int = 200) -> set[Path]:
    """Every shared library (and the loader) needed by the given ELF files, transitively.

    ldd already prints the transitive closure of each file, so one pass suffices.
    """
    libs: set[Path] = set()
    for start in range(0, len(elves), batch):
        out = _ldd(elves[start:start + batch])
        for line in out.splitlines():
            if "not found" in line:
                raise ClosureError(f"ldd: {line.strip()} (needed by a file packed into the image); "
                                   "install the package that provides it")
            m = _ARROW.search(line) or _LOADER.match(line)
            if m:
                libs.add(Path(m.group(1)))
    return libs
