"""Tests of the in-memory image tree: host symlinked directories survive, paths resolve through links, order."""

import io
import os

import pytest

from harness.image.cpio import CpioWriter
from harness.image.tree import ImageTree


def rel(path) -> str:
    """A host path as the tree keys it (no leading slash)."""
    return str(path).lstrip("/")


class RecordingWriter(CpioWriter):
    """A CpioWriter that also records (kind, name) of each entry written."""

    def __init__(self):
        super().__init__(io.BytesIO())
        self.written = []

    def directory(self, name, mode=0o755, mtime=0):
        self.written.append(("dir", name))
        super().directory(name, mode, mtime)

    def file(self, name, data, mode=0o644, mtime=0):
        self.written.append(("file", name))
        super().file(name, data, mode, mtime)

    def symlink(self, name, target):
        self.written.append(("link", name))
        super().symlink(name, target)

    def char_device(self, name, major, minor, mode=0o600):
        self.written.append(("chr", name))
        super().char_device(name, major, minor, mode)


@pytest.fixture
def merged_usr(tmp_path):
    """A host tree like merged /usr: lib -> usr/lib, with a library file under usr/lib."""
    (tmp_path / "usr" / "lib" / "x86_64").mkdir(parents=True)
    lib = tmp_path / "usr" / "lib" / "x86_64" / "libc.so.6"
    lib.write_bytes(b"\x7fELF libc")
    os.chmod(lib, 0o755)
    (tmp_path / "lib").symlink_to("usr/lib")
    return tmp_path


def test_add_host_recreates_symlinked_directory_and_real_file(merged_usr):
    """Adding lib/x86_64/libc.so.6 through the link keeps lib as a link and puts the file under usr/lib."""
    tree = ImageTree()
    tree.add_host(merged_usr / "lib" / "x86_64" / "libc.so.6")
    link = tree.nodes[rel(merged_usr / "lib")]
    assert (link.kind, link.target) == ("link", "usr/lib")
    real = tree.nodes[rel(merged_usr / "usr" / "lib" / "x86_64" / "libc.so.6")]
    assert real.kind == "file"
    assert real.mode == 0o755
    assert real.source.read_bytes() == b"\x7fELF libc"
    assert rel(merged_usr / "lib" / "x86_64" / "libc.so.6") not in tree.nodes
    assert tree.nodes[rel(merged_usr / "usr" / "lib")].kind == "dir"


def test_add_host_of_symlinked_file_adds_link_and_target(tmp_path):
    """A host file symlink becomes a link in the tree plus the file it points to."""
    (tmp_path / "libz.so.1.3").write_bytes(b"z")
    (tmp_path / "libz.so.1").symlink_to("libz.so.1.3")
    tree = ImageTree()
    tree.add_host(tmp_path / "libz.so.1")
    assert tree.nodes[rel(tmp_path / "libz.so.1")].target == "libz.so.1.3"
    assert tree.nodes[rel(tmp_path / "libz.so.1.3")].kind == "file"


def test_resolve_dir_follows_links(merged_usr):
    """resolve_dir maps a path through a symlinked directory to its canonical place."""
    tree = ImageTree()
    tree.add_host(merged_usr / "lib" / "x86_64" / "libc.so.6")
    assert tree.resolve_dir(str(merged_usr / "lib" / "x86_64")) == rel(merged_usr / "usr" / "lib" / "x86_64")


def test_resolve_dir_with_absolute_and_relative_links():
    """Relative targets resolve against the link's directory, absolute ones against the root."""
    tree = ImageTree()
    tree.mkdir("usr/lib64")
    tree.symlink("lib64", "usr/lib64")
    tree.symlink("usr/lib/abs", "/opt/real")
    tree.symlink("usr/lib/up", "../lib64")
    assert tree.resolve_dir("/lib64/") == "usr/lib64"
    assert tree.resolve_dir("usr/lib/abs/x") == "opt/real/x"
    assert tree.resolve_dir("usr/lib/up") == "usr/lib64"
    assert tree.nodes["opt/real/x"].kind == "dir"


def test_resolve_dir_refuses_symlink_loop():
    """A symlink loop in the tree is an error, not an endless walk."""
    tree = ImageTree()
    tree.symlink("a", "b")
    tree.symlink("b", "a")
    with pytest.raises(ValueError, match="too many levels of symlinks"):
        tree.resolve_dir("a/x")


def test_add_bytes_through_link_lands_in_target():
    """In-memory files added under a symlinked directory are stored at the canonical path."""
    tree = ImageTree()
    tree.mkdir("usr/bin")
    tree.symlink("bin", "usr/bin")
    tree.add_bytes("/bin/sh", b"busybox", 0o755)
    assert tree.nodes["usr/bin/sh"].data == b"busybox"
    assert "bin/sh" not in tree.nodes


def test_mkdir_keeps_existing_directory_mode():
    """mkdir of an existing directory leaves it as it was."""
    tree = ImageTree()
    tree.mkdir("tmp", 0o1777)
    tree.mkdir("tmp", 0o755)
    assert tree.nodes["tmp"].mode == 0o1777


def test_write_emits_parents_before_children(merged_usr):
    """Every entry is written after its parent directory, and each entry once."""
    tree = ImageTree()
    tree.add_host(merged_usr / "lib" / "x86_64" / "libc.so.6")
    tree.add_bytes("etc/hostname", b"kharness\n")
    tree.char_device("dev/console", 5, 1)
    tree.add_bytes("a-b/c", b"")
    tree.mkdir("a")
    tree.add_bytes("a/b/c", b"")
    writer = RecordingWriter()
    tree.write(writer)
    names = [name for _, name in writer.written]
    assert len(names) == len(set(names))
    for i, name in enumerate(names):
        parent = os.path.dirname(name)
        if parent:
            assert parent in names[:i], f"{name} written before its parent {parent}"
    kinds = dict((name, kind) for kind, name in writer.written)
    assert kinds[rel(merged_usr / "lib")] == "link"
    assert kinds["dev/console"] == "chr"
    assert kinds[rel(merged_usr / "usr" / "lib" / "x86_64" / "libc.so.6")] == "file"


def test_add_host_symlinked_directory_inside_symlinked_directory(tmp_path):
    """With a -> b and b/c -> d on the host, adding a/c/f gives links a and b/c and the file b/d/f."""
    (tmp_path / "b" / "d").mkdir(parents=True)
    (tmp_path / "b" / "d" / "f").write_bytes(b"f")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b" / "c").symlink_to("d")
    tree = ImageTree()
    tree.add_host(tmp_path / "a" / "c" / "f")
    assert tree.nodes[rel(tmp_path / "a")].kind == "link"
    assert rel(tmp_path / "a" / "c") not in tree.nodes
    assert tree.nodes[rel(tmp_path / "b" / "c")].kind == "link"
    assert tree.nodes[rel(tmp_path / "b" / "d" / "f")].kind == "file"
