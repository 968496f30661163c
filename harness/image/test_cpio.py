"""Tests of the newc cpio writer: entries parse back with the right modes, data, links, devices and padding."""

import io
import stat
from dataclasses import dataclass

import pytest

from harness.image.cpio import TRAILER, CpioWriter

FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")


@dataclass
class Entry:
    """One parsed newc entry."""

    name: str
    fields: dict
    data: bytes
    header_offset: int


def parse_newc(blob: bytes) -> tuple[list[Entry], int]:
    """Parse newc entries up to and including the trailer; return them and the offset after the trailer."""
    entries = []
    pos = 0
    while True:
        assert pos % 4 == 0, f"entry at {pos} is not 4-byte aligned"
        magic = blob[pos:pos + 6]
        assert magic == b"070701", f"bad magic {magic!r} at {pos}"
        values = [int(blob[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        fields = dict(zip(FIELDS, values))
        name_start = pos + 110
        raw_name = blob[name_start:name_start + fields["namesize"]]
        assert raw_name.endswith(b"\0"), "name is not NUL-terminated"
        name = raw_name[:-1].decode()
        data_start = name_start + fields["namesize"]
        data_start += -data_start % 4
        assert blob[name_start + fields["namesize"]:data_start] == b"\0" * (data_start - name_start - fields["namesize"])
        data = blob[data_start:data_start + fields["filesize"]]
        entries.append(Entry(name, fields, data, pos))
        pos = data_start + fields["filesize"]
        pad = -pos % 4
        assert blob[pos:pos + pad] == b"\0" * pad
        pos += pad
        if name == TRAILER:
            return entries, pos


@pytest.fixture
def archive():
    """A cpio archive with a directory, files of several sizes, a symlink and a char device."""
    out = io.BytesIO()
    writer = CpioWriter(out)
    writer.directory("dev")
    writer.directory("usr/bin", mode=0o700, mtime=1_700_000_000)
    writer.file("usr/bin/tool", b"#!/bin/sh\necho hi\n", mode=0o755, mtime=1_700_000_001)
    writer.file("empty", b"")
    writer.file("ab", b"abcde")
    writer.symlink("bin", "usr/bin")
    writer.char_device("dev/console", 5, 1)
    writer.close()
    return out.getvalue(), writer


def test_entries_round_trip_in_order(archive):
    """Every entry parses back in writing order, the trailer last."""
    blob, _ = archive
    entries, _ = parse_newc(blob)
    assert [e.name for e in entries] == ["dev", "usr/bin", "usr/bin/tool", "empty", "ab", "bin", "dev/console", TRAILER]


def test_modes_and_types(archive):
    """Directories, files, links and devices carry their file type and permission bits."""
    entries = {e.name: e for e in parse_newc(archive[0])[0]}
    assert entries["dev"].fields["mode"] == stat.S_IFDIR | 0o755
    assert entries["usr/bin"].fields["mode"] == stat.S_IFDIR | 0o700
    assert entries["usr/bin/tool"].fields["mode"] == stat.S_IFREG | 0o755
    assert entries["empty"].fields["mode"] == stat.S_IFREG | 0o644
    assert entries["bin"].fields["mode"] == stat.S_IFLNK | 0o777
    assert entries["dev/console"].fields["mode"] == stat.S_IFCHR | 0o600
    assert entries["dev"].fields["nlink"] == 2
    assert entries["usr/bin/tool"].fields["nlink"] == 1


def test_file_data_sizes_and_mtime(archive):
    """File contents come back byte for byte with their size and mtime."""
    entries = {e.name: e for e in parse_newc(archive[0])[0]}
    assert entries["usr/bin/tool"].data == b"#!/bin/sh\necho hi\n"
    assert entries["usr/bin/tool"].fields["filesize"] == 18
    assert entries["usr/bin/tool"].fields["mtime"] == 1_700_000_001
    assert entries["usr/bin"].fields["mtime"] == 1_700_000_000
    assert entries["empty"].data == b"" and entries["empty"].fields["filesize"] == 0
    assert entries["ab"].data == b"abcde"


def test_symlink_target_is_its_data(archive):
    """A symlink's target is stored as its data."""
    entries = {e.name: e for e in parse_newc(archive[0])[0]}
    assert entries["bin"].data == b"usr/bin"


def test_char_device_numbers_in_rdev(archive):
    """A character device carries its major and minor in rdevmajor/rdevminor, no data."""
    console = {e.name: e for e in parse_newc(archive[0])[0]}["dev/console"]
    assert (console.fields["rdevmajor"], console.fields["rdevminor"]) == (5, 1)
    assert console.fields["filesize"] == 0


def test_inodes_unique_and_owner_root(archive):
    """Each entry gets its own inode number and uid/gid 0; checksum fields are 0."""
    entries = parse_newc(archive[0])[0]
    inos = [e.fields["ino"] for e in entries]
    assert len(set(inos)) == len(inos)
    assert all(e.fields["uid"] == 0 and e.fields["gid"] == 0 and e.fields["check"] == 0 for e in entries)


def test_trailer_then_zero_padding_to_512(archive):
    """After the trailer only NULs follow, and the archive is a multiple of 512 bytes long."""
    blob, writer = archive
    entries, end = parse_newc(blob)
    assert entries[-1].name == TRAILER
    assert entries[-1].fields["nlink"] == 1
    assert len(blob) % 512 == 0
    assert set(blob[end:]) <= {0}
    assert writer.size == len(blob)


@pytest.mark.parametrize("name_len", range(1, 9))
def test_name_padding_for_every_alignment(name_len):
    """Names of every length modulo 4 are padded so the data starts 4-byte aligned."""
    out = io.BytesIO()
    writer = CpioWriter(out)
    writer.file("n" * name_len, b"xyz")
    writer.file("after", b"1")
    writer.close()
    entries, _ = parse_newc(out.getvalue())
    assert [(e.name, e.data) for e in entries[:2]] == [("n" * name_len, b"xyz"), ("after", b"1")]


def test_empty_archive_is_trailer_only():
    """An archive closed at once holds only the trailer, padded to 512 bytes."""
    out = io.BytesIO()
    CpioWriter(out).close()
    blob = out.getvalue()
    assert len(blob) == 512
    assert [e.name for e in parse_newc(blob)[0]] == [TRAILER]
