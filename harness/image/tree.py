"""An in-memory file tree for the initramfs that mirrors host paths, symlinked directories included."""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from .cpio import CpioWriter


@dataclass
class Node:
    """One entry: a directory, a symlink, or a file whose bytes come from the host or from memory."""

    kind: str  # "dir", "link", "file", "chr"
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    target: str = ""
    mtime: int = 0
    rdev: tuple[int, int] = (0, 0)


class ImageTree:
    """Paths of the guest, added from host paths so that symlinks on the way (/lib -> usr/lib) survive."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {"": Node("dir")}

    def resolve_dir(self, path: str) -> str:
        """Canonical path of a directory in the tree, following symlinks already in it."""
        parts = [p for p in path.strip("/").split("/") if p]
        current = ""
        for depth, part in enumerate(parts):
            candidate = f"{current}/{part}".lstrip("/")
            node = self.nodes.get(candidate)
            hops = 0
            while node is not None and node.kind == "link":
                hops += 1
                if hops > 16:
                    raise ValueError(f"{path}: too many levels of symlinks in the image tree")
                base = posixpath.dirname(candidate)
                candidate = posixpath.normpath(posixpath.join(base, node.target)).lstrip("/")
                node = self.nodes.get(candidate)
            if node is None:
                self.nodes[candidate] = Node("dir")
            current = candidate
        return current

    def canonical(self, path: str) -> str:
        """Where path's last component sits in the tree, its parent's links followed."""
        parent = self.resolve_dir(posixpath.dirname(path.rstrip("/")))
        return f"{parent}/{posixpath.basename(path.rstrip('/'))}".lstrip("/")

    def _place(self, path: str, node: Node) -> str:
        parent = self.resolve_dir(posixpath.dirname(path.rstrip("/")))
        name = f"{parent}/{posixpath.basename(path.rstrip('/'))}".lstrip("/")
        existing = self.nodes.get(name)
        if existing is not None and existing.kind == "dir" and node.kind == "dir":
            return name
        self.nodes[name] = node
        return name

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._place(path, Node("dir", mode=mode))

    def add_bytes(self, path: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> None:
        self._place(path, Node("file", mode=mode, data=data, mtime=mtime))

    def symlink(self, path: str, target: str) -> None:
        self._place(path, Node("link", target=target))

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._place(path, Node("chr", mode=mode, rdev=(major, minor)))

    def add_host(self, path: str | Path) -> None:
        """Add a host file (or symlink chain, or directory entry) at the same path in the guest.

        Symlinked directories on the way are recreated as symlinks, so /lib64/ld-linux-x86-64.so.2
        on a merged-/usr host becomes the link /lib64 -> usr/lib64 plus the real file.
        """
        path = os.path.abspath(str(path))
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            prefix = "/" + "/".join(parts[:i])
            # Place each symlinked directory where the tree's earlier links put it (a link reached
            # through another link lives under that link's target), then add what it points to.
            if os.path.islink(prefix) and self.canonical(prefix) not in self.nodes:
                target = os.readlink(prefix)
                self._place(prefix, Node("link", target=target))
                self.add_host(posixpath.normpath(posixpath.join(posixpath.dirname(prefix), target)))
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            self._place(path, Node("link", target=target))
            self.add_host(posixpath.normpath(posixpath.join(posixpath.dirname(path), target)))
        elif stat.S_ISDIR(st.st_mode):
            self._place(path, Node("dir", mode=stat.S_IMODE(st.st_mode)))
        else:
            self._place(path, Node("file", mode=stat.S_IMODE(st.st_mode), source=Path(path),
                                   mtime=int(st.st_mtime)))

    def files(self) -> list[tuple[str, Node]]:
        return sorted((p, n) for p, n in self.nodes.items() if p)

    def write(self, writer: CpioWriter) -> None:
        """Write every entry, each directory before what it holds."""
        for name, node in self.files():
            if node.kind == "dir":
                writer.directory(name, node.mode)
            elif node.kind == "link":
                writer.symlink(name, node.target)
            elif node.kind == "chr":
                writer.char_device(name, *node.rdev, mode=node.mode)
            else:
                data = node.data if node.data is not None else node.source.read_bytes()
                writer.file(name, data, node.mode, node.mtime)
