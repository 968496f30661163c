"""Per-container state directories (state.json, exec.fifo, a lock) under a root such as /run/kharness-runtime."""

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator

from .cgroup_manager import Cgroup
from .errors import ContainerError
from .record import as_dict, field, record

DEFAULT_ROOT = "/run/kharness-runtime"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
# Made only for a config with startContainer or poststart hooks: how `start` learns the outcome (init_hooks.py).
START_FIFO = "start.fifo"
# The config.json as `create` read it: `exec` uses this copy, never the bundle's file, which may have changed.
CONFIG_COPY = "config.json"
# runc's rule for container ids (Go's \w is ASCII): they become directory and cgroup names, so no slashes, no
# "." or "..", nothing a terminal or a shell would read differently; and no leading "-", which reads as an option.
_VALID_ID = re.compile(r"[A-Za-z0-9_+.-]+", re.ASCII)
MAX_ID_LENGTH = 1024
# /proc/PID/stat states of a process that has exited but is not reaped yet (zombie, dead).
_EXITED_STATES = ("Z", "X")

CREATING, CREATED, RUNNING, STOPPED = "creating", "created", "running", "stopped"
PAUSED = "paused"  # runc's extra status: the container's cgroup is frozen


def utc_now_rfc3339() -> str:
    """The time now as runc writes `created`: RFC 3339 in UTC with nanoseconds (no datetime import)."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000)) + f".{now % 1_000_000_000:09d}Z"


@record
class ContainerRecord:
    """What the runtime remembers of a container; `start_time` (clock ticks after boot, /proc/PID/stat field 22)
    tells the container's init from a later process that reuses its pid."""

    id: str
    pid: int
    bundle: str
    rootfs: str
    oci_version: str
    start_time: int
    created: str = field(default_factory=utc_now_rfc3339)
    annotations: dict[str, str] = field(default_factory=dict)
    # Whether the container has its own pid namespace, so `ps` can match processes by namespace.
    own_pid_namespace: bool = True
    # The container's cgroup: the v2 mount point and the path below it; None where the host gives it none.
    cgroup_root: str | None = None
    cgroup_path: str | None = None
    # The container's cgroup of the v1 devices controller, on a host without cgroup v2 alone (devices_v1.py).
    devices_v1_path: str | None = None
    # True from the moment the init is forked until `create` has finished with it (OCI status "creating").
    creating: bool = False
    # Whether the config has hooks: only then do `start` and `delete` read the config copy again.
    hooks: bool = False


class StateDir:
    """The state directories of all containers under one root; `root` None means DEFAULT_ROOT."""

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.abspath(root or DEFAULT_ROOT)
        self._paths: dict[str, str] = {}  # checked ids: a create asks for its container's paths a dozen times

    def path(self, container_id: str) -> str:
        found = self._paths.get(container_id) if isinstance(container_id, str) else None
        if found is None:
            check_id(container_id)
            if len(self._paths) > 256:  # a long-lived library user creates thousands
                self._paths.clear()
            found = self._paths[container_id] = os.path.join(self.root, container_id)
        return found

    def exec_fifo(self, container_id: str) -> str:
        return os.path.join(self.path(container_id), EXEC_FIFO)

    def start_fifo(self, container_id: str) -> str:
        return os.path.join(self.path(container_id), START_FIFO)

    def reserve(self, container_id: str) -> str:
        """Make the container's directory and its exec FIFO; an existing id is an error."""
        directory = self.path(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(directory, 0o711)
        except FileExistsError as error:
            raise ContainerError(f"container {container_id!r} already exists (in {self.root})") from error
        os.mkfifo(os.path.join(directory, EXEC_FIFO), 0o600)
        return directory

    def config_copy(self, container_id: str) -> str:
        return os.path.join(self.path(container_id), CONFIG_COPY)

    def save_config(self, container_id: str, text: str) -> None:
        """Keep the config.json text `create` parsed, for `exec` and for a forced delete of a half-made container."""
        with open(self.config_copy(container_id), "w", encoding="utf-8") as copy:
            copy.write(text)

    def save(self, record: ContainerRecord) -> None:
        """Write state.json atomically (a reader sees the old or the new file, never half of one)."""
        final = os.path.join(self.path(record.id), STATE_FILE)
        temporary = final + ".tmp"
        text = json.dumps(as_dict(record))  # one write: json.dump to a file writes each token on its own
        with open(temporary, "w", encoding="utf-8") as state_file:
            state_file.write(text)
        os.replace(temporary, final)

    def load(self, container_id: str) -> ContainerRecord:
        """The record of a container; ContainerError if there is none (or it is still being created)."""
        path = os.path.join(self.path(container_id), STATE_FILE)
        try:
            with open(path, encoding="utf-8") as state_file:
                return ContainerRecord(**json.load(state_file))
        except FileNotFoundError as error:
            if os.path.isdir(self.path(container_id)):
                raise ContainerError(f"container {container_id!r} is still being created (no {path})") from error
            raise ContainerError(f"container {container_id!r} does not exist (in {self.root})") from error
        except (ValueError, TypeError) as error:
            raise ContainerError(f"{path}: unreadable state: {error}") from error

    def remove(self, container_id: str) -> None:
        import shutil  # only here: the CLI pays every import on each start
        shutil.rmtree(self.path(container_id), ignore_errors=False)

    def ids(self) -> list[str]:
        """The ids of every container with a state directory, sorted."""
        try:
            return sorted(name for name in os.listdir(self.root)
                          if _VALID_ID.fullmatch(name) and os.path.isdir(os.path.join(self.root, name)))
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def locked(self, container_id: str) -> Iterator[None]:
        """Hold an exclusive flock on the container's directory: one start/kill/delete at a time."""
        try:
            fd = os.open(self.path(container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as error:
            raise ContainerError(f"container {container_id!r} does not exist (in {self.root})") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def status(self, record: ContainerRecord) -> str:
        """created (waiting for start), running, paused (its cgroup frozen) or stopped, from the process, the exec
        FIFO and the cgroup."""
        if not is_alive(record.pid, record.start_time):
            return STOPPED  # a "creating" one too: its creator died, and so did the init (it watches the creator)
        if record.creating:
            return CREATING
        if record.cgroup_root and record.cgroup_path and Cgroup(record.cgroup_root, record.cgroup_path).is_frozen():
            return PAUSED
        return CREATED if os.path.exists(self.exec_fifo(record.id)) else RUNNING

    def oci_state(self, record: ContainerRecord) -> dict:
        """The OCI state document of a container as runc prints it: its keys in runc's order, rootfs, created and
        owner added, annotations left out when there are none."""
        status = self.status(record)
        document = {
            "ociVersion": record.oci_version,
            "id": record.id,
            "pid": record.pid if status != STOPPED else 0,
            "status": status,
            "bundle": record.bundle,
            "rootfs": record.rootfs,
            "created": record.created,
        }
        if record.annotations:
            document["annotations"] = record.annotations
        document["owner"] = ""
        return document


def check_id(container_id: str) -> None:
    """Refuse an id that is not runc's ASCII letters, digits, '_', '+', '-' and '.', or starts with '-'."""
    if (not isinstance(container_id, str) or not _VALID_ID.fullmatch(container_id) or container_id in (".", "..")
            or container_id.startswith("-") or len(container_id) > MAX_ID_LENGTH):
        raise ContainerError(f"invalid container id {container_id!r}: use ASCII letters, digits, '_', '+', '-' and "
                             f"'.' (not first: '-'), at most {MAX_ID_LENGTH} characters")


def process_start_time(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of a process from /proc/PID/stat, None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat_file:
            text = stat_file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ")": split after its last ")".
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[19]), fields[0]


def is_alive(pid: int, start_time: int) -> bool:
    """Whether `pid` is still the process that started at `start_time`, and has not exited."""
    found = process_start_time(pid)
    return found is not None and found[0] == start_time and found[1] not in _EXITED_STATES


def container_pids(record: ContainerRecord) -> list[int]:
    """The host pids of the container's processes: those in its pid namespace, or its init and descendants."""
    if record.own_pid_namespace:
        try:
            namespace = os.stat(f"/proc/{record.pid}/ns/pid").st_ino
        except FileNotFoundError:
            return []
        return sorted(pid for pid in _all_pids() if _pid_namespace(pid) == namespace)
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        found = _parent_pid(pid)
        if found is not None:
            children.setdefault(found, []).append(pid)
    pids, pending = [], [record.pid]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        pending.extend(children.get(pid, []))
    return sorted(pids)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _pid_namespace(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat_file:
            text = stat_file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(text[text.rindex(")") + 2:].split()[1])
