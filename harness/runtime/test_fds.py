"""Descriptor hygiene of the runtime's children: what close_fds_except keeps, what --preserve-fds passes on."""

import os

import pytest

from harness.runtime.errors import ContainerError
from harness.runtime.fds import check_preserved_fds, close_fds_except, inherit_preserved_fds


def _open_fds_after(work) -> set[int]:
    """The descriptors a forked child has open after running `work()` (read from its /proc/self/fd)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            work(write_end)
            listing = ",".join(os.listdir("/proc/self/fd")).encode()
            os.write(write_end, listing)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        listing = reader.read().decode()
    os.waitpid(pid, 0)
    return {int(fd) for fd in listing.split(",")}


def test_everything_but_kept_descriptors_is_closed(tmp_path):
    """Directory fds (the CVE-2024-21626 kind) are gone; stdio and the kept ones stay."""
    directory = os.open(tmp_path, os.O_RDONLY)
    other = os.open(tmp_path, os.O_RDONLY)
    try:
        left = _open_fds_after(lambda report: close_fds_except({report}))
    finally:
        os.close(directory)
        os.close(other)
    # The listing itself opens one more descriptor (the /proc/self/fd directory).
    assert directory not in left and other not in left
    assert {0, 1, 2} <= left and len(left - {0, 1, 2}) <= 2


def test_preserved_descriptors_become_inheritable():
    """--preserve-fds: the descriptors 3.. are made inheritable (close-on-exec cleared), as runc does."""
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
    try:
        count = max(fds) - 2 if min(fds) == 3 else 0
        if count == 0:
            pytest.skip("descriptors 3.. are not free in this process")
        inherit_preserved_fds(count)
        assert all(os.get_inheritable(fd) for fd in fds)
    finally:
        for fd in fds:
            os.close(fd)


def test_preserving_a_closed_descriptor_is_refused():
    """A count reaching a descriptor that is not open is an error naming it, not a silent gap."""
    with pytest.raises(ContainerError, match=r"preserve_fds=1000: descriptor \d+ is not open"):
        check_preserved_fds(1000)
    with pytest.raises(ContainerError, match="must be 0 or more"):
        check_preserved_fds(-1)
