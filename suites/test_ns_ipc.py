"""IPC namespace: SysV message queues, semaphore sets, shared memory and POSIX message queues stay on their side."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest

libc = ctypes.CDLL(None, use_errno=True)

IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0
CLONE_NEWIPC = 0x08000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
SYSV_KINDS = ("msg", "sem", "shm")
MQUEUE = "/dev/mqueue"


def unique_key() -> int:
    """A SysV key nobody else uses: positive (the kernel prints keys as signed ints) and never IPC_PRIVATE (0)."""
    return 0x10000000 + uuid.uuid4().int % 0x6FFFFFFF


def sysvipc_keys(proc: str = "/proc") -> dict[str, set[int]]:
    """The keys listed in /proc/sysvipc/{msg,sem,shm} of the reader's IPC namespace (first column; header skipped)."""
    keys = {}
    for kind in SYSV_KINDS:
        with open(f"{proc}/sysvipc/{kind}") as table:
            keys[kind] = {int(line.split()[0]) for line in table.read().splitlines()[1:] if line.strip()}
    return keys


# Runs in a child of the host (never in this pytest process): setns(argv[2] = CLONE_NEWIPC) into the IPC namespace
# of pid argv[1] and print the keys its /proc/sysvipc lists (that file shows the namespace of whoever opens it).
_KEYS_IN_NAMESPACE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(f"/proc/{sys.argv[1]}/ns/ipc", os.O_RDONLY)
if libc.setns(fd, int(sys.argv[2])) != 0:
    raise OSError(ctypes.get_errno(), "setns(CLONE_NEWIPC)")
keys = {}
for kind in ("msg", "sem", "shm"):
    with open(f"/proc/sysvipc/{kind}") as table:
        keys[kind] = [int(line.split()[0]) for line in table.read().splitlines()[1:] if line.strip()]
print(json.dumps(keys))
"""


def sysvipc_keys_of(pid: int) -> dict[str, set[int]]:
    """The SysV keys that the IPC namespace of host process `pid` holds, read by a helper that setns into it."""
    argv = [sys.executable, "-c", _KEYS_IN_NAMESPACE, str(pid), str(CLONE_NEWIPC)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
    return {kind: set(keys) for kind, keys in json.loads(out).items()}


# The container's workload: create one object of each SysV kind under key argv[1], print what its own
# /proc/sysvipc lists as "<kind> <keys...>" lines, then "ready", and stay alive until it is deleted.
_CREATE_IN_CONTAINER = r"""
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
key = int(sys.argv[1])
flags = 0o1000 | 0o2000 | 0o600  # IPC_CREAT | IPC_EXCL | rw for the owner
for kind, made in (("msg", libc.msgget(key, flags)), ("sem", libc.semget(key, 1, flags)),
                   ("shm", libc.shmget(key, ctypes.c_size_t(4096), flags))):
    if made < 0:
        raise OSError(ctypes.get_errno(), f"{kind}get({key}, IPC_CREAT|IPC_EXCL)")
for kind in ("msg", "sem", "shm"):
    with open(f"/proc/sysvipc/{kind}") as table:
        print(kind, *[line.split()[0] for line in table.read().splitlines()[1:] if line.strip()])
print("ready", flush=True)
time.sleep(300)
"""


def printed_keys(output: str) -> dict[str, set[int]]:
    """Parse the "<kind> <keys...>" lines the container workload printed."""
    keys = {}
    for line in output.splitlines():
        words = line.split()
        if words and words[0] in SYSV_KINDS:
            keys[words[0]] = {int(word) for word in words[1:]}
    assert set(keys) == set(SYSV_KINDS), f"the container did not list every SysV kind: {output!r}"
    return keys


def start_sysv_creator(container, python_in_container, key: int):
    """A running container that made a message queue, a semaphore set and a shm segment under `key`."""
    interpreter, mounts = python_in_container
    config = container.config([interpreter, "-c", _CREATE_IN_CONTAINER, str(key)])
    config["mounts"].extend(mounts)
    running = container.start(config=config)
    running.wait_output("ready")
    return running


@dataclass
class HostSysvObjects:
    key: int
    msqid: int
    semid: int
    shmid: int


@pytest.fixture
def host_sysv_objects():
    """One SysV message queue, semaphore set and shm segment on the host under a fresh key; removed afterwards."""
    key = unique_key()
    flags = IPC_CREAT | IPC_EXCL | 0o600
    ids = {}
    try:
        for kind, create in (("msg", lambda: libc.msgget(key, flags)), ("sem", lambda: libc.semget(key, 1, flags)),
                             ("shm", lambda: libc.shmget(key, ctypes.c_size_t(4096), flags))):
            made = create()
            if made < 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"{kind}get({key:#x}, IPC_CREAT|IPC_EXCL): {os.strerror(errno)}")
            ids[kind] = made
        yield HostSysvObjects(key, ids["msg"], ids["sem"], ids["shm"])
    finally:
        failures = []
        if "msg" in ids and libc.msgctl(ids["msg"], IPC_RMID, None) != 0:
            failures.append(f"msgctl({ids['msg']}, IPC_RMID): {os.strerror(ctypes.get_errno())}")
        if "sem" in ids and libc.semctl(ids["sem"], 0, IPC_RMID) != 0:
            failures.append(f"semctl({ids['sem']}, 0, IPC_RMID): {os.strerror(ctypes.get_errno())}")
        if "shm" in ids and libc.shmctl(ids["shm"], IPC_RMID, None) != 0:
            failures.append(f"shmctl({ids['shm']}, IPC_RMID): {os.strerror(ctypes.get_errno())}")
        assert not failures, "; ".join(failures)


def remove_from_host(key: int) -> None:
    """Remove whatever SysV objects the host holds under `key` (none, unless a container's leaked out)."""
    msqid, semid, shmid = libc.msgget(key, 0), libc.semget(key, 0, 0), libc.shmget(key, ctypes.c_size_t(0), 0)
    if msqid >= 0:
        libc.msgctl(msqid, IPC_RMID, None)
    if semid >= 0:
        libc.semctl(semid, 0, IPC_RMID)
    if shmid >= 0:
        libc.shmctl(shmid, IPC_RMID, None)


@pytest.fixture
def container_key():
    """Makes keys for containers to create SysV objects under; any object that leaked to the host is removed."""
    keys = []

    def new_key() -> int:
        keys.append(unique_key())
        return keys[-1]
    yield new_key
    for key in keys:
        remove_from_host(key)


def _mqueue_mounted() -> bool:
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if fields[4] == MQUEUE and fields[fields.index("-") + 1] == "mqueue":
                return True
    return False


@pytest.fixture(scope="module")
def host_mqueue(as_root):
    """The host's mqueue filesystem at /dev/mqueue: mounted here if it was not (and then unmounted afterwards)."""
    if _mqueue_mounted():
        yield MQUEUE
        return
    made_dir = not os.path.isdir(MQUEUE)
    if made_dir:
        os.mkdir(MQUEUE, 0o755)
    if libc.mount(b"mqueue", MQUEUE.encode(), b"mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
        errno = ctypes.get_errno()
        if made_dir:
            os.rmdir(MQUEUE)
        raise OSError(errno, f"mount -t mqueue mqueue {MQUEUE}: {os.strerror(errno)}")
    try:
        yield MQUEUE
    finally:
        if libc.umount2(MQUEUE.encode(), 0) != 0:
            raise OSError(ctypes.get_errno(), f"umount {MQUEUE}: {os.strerror(ctypes.get_errno())}")
        if made_dir:
            os.rmdir(MQUEUE)


def test_host_sysv_objects_are_invisible_in_the_container(container, host_sysv_objects):
    """A new IPC namespace starts empty: SysV objects the host made are not in the container's /proc/sysvipc."""
    key = host_sysv_objects.key
    host = sysvipc_keys()
    assert all(key in host[kind] for kind in SYSV_KINDS), f"the host does not list its own key {key}: {host}"
    script = "for k in msg sem shm; do echo $k $(tail -n +2 /proc/sysvipc/$k | awk '{print $1}'); done"
    inside = printed_keys(container.run(["sh", "-c", script]).check().stdout)
    assert inside == {kind: set() for kind in SYSV_KINDS}, f"the container's IPC namespace is not empty: {inside}"


def test_container_sysv_objects_are_invisible_on_the_host(container, python_in_container, container_key):
    """SysV objects created inside the container exist there (its /proc/sysvipc lists them) but not on the host."""
    key = container_key()
    running = start_sysv_creator(container, python_in_container, key)
    inside = printed_keys(running.output_text())
    assert all(key in inside[kind] for kind in SYSV_KINDS), f"the container does not list its own key: {inside}"
    host = sysvipc_keys()
    assert not any(key in host[kind] for kind in SYSV_KINDS), f"the container's key {key} leaked to the host: {host}"


def test_sibling_containers_do_not_see_each_others_sysv_objects(container, python_in_container, container_key):
    """Two containers, each in its own IPC namespace, see only their own SysV objects, and the host sees neither."""
    key_a, key_b = container_key(), container_key()
    first = start_sysv_creator(container, python_in_container, key_a)
    second = start_sysv_creator(container, python_in_container, key_b)
    seen_by_b = printed_keys(second.output_text())
    assert all(key_b in seen_by_b[kind] and key_a not in seen_by_b[kind] for kind in SYSV_KINDS), seen_by_b
    seen_by_a = sysvipc_keys_of(first.pid)  # now that the second container's objects exist too
    assert all(key_a in seen_by_a[kind] and key_b not in seen_by_a[kind] for kind in SYSV_KINDS), seen_by_a
    host = sysvipc_keys()
    assert not any(key in host[kind] for kind in SYSV_KINDS for key in (key_a, key_b)), host


def test_host_posix_mqueue_is_invisible_in_the_container(container, host_mqueue):
    """A POSIX message queue created on the host is absent from the container's own mqueue filesystem."""
    name = f"kh-{uuid.uuid4().hex}"
    fd = os.open(f"{host_mqueue}/{name}", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        assert name in os.listdir(host_mqueue)
        listing = container.run(["ls", "-a", MQUEUE]).check().stdout.split()
        assert name not in listing
        assert set(listing) <= {".", ".."}, f"the container's new IPC namespace has queues already: {listing}"
    finally:
        os.close(fd)
        os.unlink(f"{host_mqueue}/{name}")


def test_container_posix_mqueue_is_invisible_on_the_host(container, host_mqueue):
    """A POSIX message queue created inside the container (touch on its /dev/mqueue) is not on the host's."""
    name = f"kc-{uuid.uuid4().hex}"
    try:
        running = container.start(["sh", "-c", f"touch {MQUEUE}/{name} && ls {MQUEUE} && echo ready; sleep 300"])
        output = running.wait_output("ready")
        assert name in output.split(), f"the container does not list its own queue: {output!r}"
        # The queue is the container's: there while it runs, in its mqueue instance, never in the host's.
        assert os.path.exists(f"/proc/{running.pid}/root{MQUEUE}/{name}")
        assert name not in os.listdir(host_mqueue)
    finally:
        if os.path.exists(f"{host_mqueue}/{name}"):  # leaked: the container shared the host's IPC namespace
            os.unlink(f"{host_mqueue}/{name}")
