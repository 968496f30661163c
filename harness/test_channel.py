"""Tests of the results channel: framed files and exit status survive a serial line; damage is reported."""

import base64
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import channel
from harness.channel import decode, encode_exit, encode_file

FILES = {
    "junit.xml": b'<?xml version="1.0"?>\n<testsuites/>\n',
    "bench.json": b'{"benchmarks": []}' * 50,
    "empty.txt": b"",
    "blob.bin": bytes(range(256)) * 3 + b"\r\n\n\r",
}


def sent(files=FILES, status=0) -> bytes:
    """What a guest writes: every file framed, then the exit line."""
    return b"".join(encode_file(n, d) for n, d in files.items()) + (encode_exit(status) if status is not None else b"")


def tty(stream: bytes) -> bytes:
    """What a serial line with ONLCR makes of a stream: every \\n becomes \\r\\n."""
    return stream.replace(b"\n", b"\r\n")


def test_round_trip_of_several_files_and_exit_status():
    """Files and the exit status come back unchanged, without errors."""
    results = decode(sent(status=1))
    assert results.files == FILES
    assert results.exit_status == 1
    assert results.errors == []


def test_round_trip_through_crlf_translation():
    """A \\r\\n-translated stream (tty ONLCR) decodes to the same files, binary \\r bytes included."""
    results = decode(tty(sent(status=0)))
    assert results.files == FILES
    assert results.exit_status == 0
    assert results.errors == []


def test_noise_between_frames_is_ignored():
    """Lines outside any frame (a stray message, a blank line) do not disturb the files."""
    stream = b"garbage line\n\n" + encode_file("a.txt", b"A") + b"random\r\n" + encode_exit(0)
    results = decode(stream)
    assert results.files == {"a.txt": b"A"}
    assert results.exit_status == 0 and results.errors == []


def test_frame_format_is_header_base64_trailer():
    """A frame is the header with name, size and sha256, base64 lines of at most 76 characters, and END."""
    data = os.urandom(300)
    lines = encode_file("r.bin", data).decode().splitlines()
    assert lines[0] == f"KHARNESS-FILE r.bin 300 {hashlib.sha256(data).hexdigest()}"
    assert lines[-1] == "KHARNESS-END r.bin"
    assert all(len(line) <= 76 for line in lines[1:-1])
    assert base64.b64decode("".join(lines[1:-1])) == data


def test_damaged_base64_drops_the_file_with_an_error():
    """A body line with characters outside base64 drops that file and reports it; other files survive."""
    stream = sent({"a.txt": b"hello world" * 10, "b.txt": b"fine"})
    damaged = stream.replace(b"aGVsbG8gd29y", b"aGVsbG8*d29y", 1)
    assert damaged != stream
    results = decode(damaged)
    assert "a.txt" not in results.files
    assert results.files == {"b.txt": b"fine"}
    assert any(e.startswith("a.txt: bad base64") for e in results.errors)
    assert results.exit_status == 0


def test_wrong_sha256_drops_the_file():
    """Valid base64 whose bytes differ from the header's digest drops the file as damaged."""
    frame = encode_file("a.txt", b"original")
    forged = frame.replace(base64.b64encode(b"original"), base64.b64encode(b"0riginal"))
    results = decode(forged + encode_exit(0))
    assert results.files == {}
    assert results.errors == ["a.txt: size or sha256 mismatch (damaged in transit)"]


def test_wrong_size_drops_the_file():
    """A header whose size disagrees with the data drops the file."""
    frame = encode_file("a.txt", b"abc").replace(b" 3 ", b" 4 ", 1)
    results = decode(frame)
    assert results.files == {} and "size or sha256 mismatch" in results.errors[0]


def test_truncated_stream_reports_truncated():
    """A stream cut inside a file reports that file as truncated and has no exit status."""
    stream = sent({"junit.xml": b"x" * 500}, status=None)
    results = decode(stream[: len(stream) // 2])
    assert results.files == {}
    assert results.exit_status is None
    assert len(results.errors) == 1 and "junit.xml: truncated" in results.errors[0]


def test_no_exit_line_means_no_exit_status():
    """Complete files without an EXIT line leave exit_status None, without errors."""
    results = decode(sent(status=None))
    assert results.files == FILES
    assert results.exit_status is None
    assert results.errors == []


def test_empty_stream():
    """An empty results file means nothing arrived."""
    results = decode(b"")
    assert (results.files, results.exit_status, results.errors) == ({}, None, [])


def test_malformed_header_and_exit_lines_are_errors():
    """A header without size/digest and an exit line without a number are reported."""
    results = decode(b"KHARNESS-FILE name\nKHARNESS-EXIT x\n")
    assert results.exit_status is None
    assert len(results.errors) == 2
    assert results.errors[0].startswith("malformed header") and results.errors[1].startswith("malformed exit line")


@pytest.mark.parametrize("name", ["with space.xml", "tab\tname", "", "new\nline"])
def test_names_with_whitespace_or_empty_are_rejected(name):
    """encode_file refuses empty names and names containing whitespace."""
    with pytest.raises(ValueError, match="plain file name"):
        encode_file(name, b"x")


@pytest.mark.parametrize("name", ["../escape.xml", "/etc/cron.d/x", "sub/dir.json"])
def test_decode_refuses_file_names_that_are_paths(name):
    """A file name with a path separator or '..' is not accepted from the guest."""
    data = b"payload"
    header = f"KHARNESS-FILE {name} {len(data)} {hashlib.sha256(data).hexdigest()}\n"
    stream = (header + base64.encodebytes(data).decode() + f"KHARNESS-END {name}\n").encode() + encode_exit(0)
    results = decode(stream)
    assert name not in results.files
    assert results.errors


def test_exit_status_negative_and_last_wins():
    """Exit lines carry any integer; the last one read counts."""
    assert decode(encode_exit(-11)).exit_status == -11
    assert decode(encode_exit(1) + encode_exit(0)).exit_status == 0
    assert channel.EXIT == "KHARNESS-EXIT"


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,19}", fullmatch=True), st.binary(max_size=400), max_size=4),
       st.integers(min_value=0, max_value=255))
def test_round_trip_property(files, status):
    """Any set of files with simple names and any status round-trips, with or without \\r\\n translation."""
    stream = sent(files, status)
    for variant in (stream, tty(stream)):
        results = decode(variant)
        assert results.files == files
        assert results.exit_status == status
        assert results.errors == []
