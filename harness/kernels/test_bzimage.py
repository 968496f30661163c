"""Tests of reading the kernel release from an x86 bzImage setup header."""

import struct

import pytest

from harness.kernels.bzimage import NotAKernel, release_of


def fake_bzimage(path, version: bytes, pointer: int = 0x3000):
    """A 0x10000-byte file with the 'HdrS' magic at 0x202 and the version string at pointer + 0x200."""
    head = bytearray(0x10000)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x20E, pointer)
    start = pointer + 0x200
    head[start:start + len(version) + 1] = version + b"\0"
    path.write_bytes(bytes(head))
    return path


def test_release_is_first_word_of_version_string(tmp_path):
    """The release is the version string up to its first space (what `uname -r` prints)."""
    image = fake_bzimage(tmp_path / "bzImage", b"6.13.0-rc1-custom (dev@box) #1 SMP PREEMPT_DYNAMIC")
    assert release_of(image) == "6.13.0-rc1-custom"


def test_release_at_another_pointer(tmp_path):
    """The version pointer at 0x20E is honoured, not a fixed offset."""
    image = fake_bzimage(tmp_path / "bzImage", b"5.10.0-30-amd64 (debian-kernel@lists.debian.org)", pointer=0x1234)
    assert release_of(image) == "5.10.0-30-amd64"


def test_file_without_hdrs_magic_is_not_a_kernel(tmp_path):
    """A file without the setup header magic raises NotAKernel naming the magic."""
    other = tmp_path / "notes.txt"
    other.write_bytes(b"hello\n" * 2000)
    with pytest.raises(NotAKernel, match="HdrS"):
        release_of(other)


def test_short_file_is_not_a_kernel(tmp_path):
    """A file shorter than the setup header raises NotAKernel."""
    short = tmp_path / "short"
    short.write_bytes(b"\0" * 0x100)
    with pytest.raises(NotAKernel):
        release_of(short)


def test_missing_file_is_not_a_kernel(tmp_path):
    """An unreadable path raises NotAKernel, not OSError."""
    with pytest.raises(NotAKernel, match="cannot read"):
        release_of(tmp_path / "absent")
