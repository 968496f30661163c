"""Kernel modules: read .modinfo from (compressed) .ko files and resolve their dependency order."""

from __future__ import annotations

import gzip
import lzma
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


class ModuleError(RuntimeError):
    """A module is missing, unreadable, or its dependencies cannot be resolved."""


def module_name(path: Path | str) -> str:
    """The kernel's name of a module file: basename without suffixes, '-' as '_'."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("-", "_")


def read_module(path: Path) -> bytes:
    """The uncompressed ELF bytes of a module file."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        try:
            return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            raise ModuleError(f"{path}: cannot decompress with zstd ({exc}); install the zstd package") from None
    return data


def modinfo(elf: bytes, where: str = "module") -> dict[str, list[str]]:
    """The key=value pairs of an ELF64 module's .modinfo section."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ModuleError(f"{where}: not a little-endian ELF64 file")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = sections[shstrndx][4]
    for name_off, _type, _flags, _addr, offset, size in sections:
        end = elf.index(b"\0", strtab_off + name_off)
        if elf[strtab_off + name_off:end] == b".modinfo":
            info: dict[str, list[str]] = {}
            for entry in elf[offset:offset + size].split(b"\0"):
                if b"=" in entry:
                    key, _, value = entry.decode(errors="replace").partition("=")
                    info.setdefault(key, []).append(value)
            return info
    raise ModuleError(f"{where}: no .modinfo section")


def depends(elf: bytes, where: str = "module") -> list[str]:
    """The modules this one needs loaded first (its `depends=` field)."""
    values = modinfo(elf, where).get("depends", [""])
    return [d.replace("-", "_") for d in values[0].split(",") if d]


@dataclass(frozen=True)
class ModuleFile:
    """A module to pack: its kernel name and the uncompressed ELF bytes."""

    name: str
    data: bytes


def index(modules_dir: Path) -> dict[str, Path]:
    """Map each module name to its file under lib/modules/V."""
    found: dict[str, Path] = {}
    for path in modules_dir.rglob("*.ko*"):
        if path.name.endswith(SUFFIXES):
            found[module_name(path)] = path
    return found


def builtin(modules_dir: Path) -> set[str]:
    """Names of modules built into the kernel image, from modules.builtin when the package has it."""
    listing = modules_dir / "modules.builtin"
    if not listing.is_file():
        return set()
    return {module_name(line.strip()) for line in listing.read_text().splitlines() if line.strip()}


def resolve(wanted: list[str], files: dict[str, Path], built_in: set[str],
            reader=read_module) -> list[ModuleFile]:
    """The wanted modules and their dependencies, each after what it depends on.

    A wanted module that is neither a file nor built in is an error naming it; one that is built
    in needs no loading and is left out. A kernel with no module files and no modules.builtin
    at all (a custom kernel with everything built in) needs nothing loaded: wanted modules are
    then left out too.
    """
    ordered: list[ModuleFile] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(name: str, needed_by: str | None) -> None:
        if name in done:
            return
        if name in visiting:
            raise ModuleError(f"dependency cycle: {' -> '.join(visiting + [name])}")
        path = files.get(name)
        if path is None:
            if name in built_in or (needed_by is None and not files and not built_in):
                done.add(name)
                return
            by = f" (needed by {needed_by})" if needed_by else ""
            raise ModuleError(f"module {name}{by} is neither in the package nor built in")
        visiting.append(name)
        data = reader(path)
        for dep in depends(data, str(path)):
            visit(dep, name)
        visiting.pop()
        done.add(name)
        ordered.append(ModuleFile(name, data))

    for name in wanted:
        visit(name.replace("-", "_"), None)
    return ordered
