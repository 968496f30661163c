"""One cgroup v2 directory: create it with its controllers, write limits, place, freeze, kill and remove processes."""

import errno
import os
import select
import signal
import time

from .cgroup_config import ControlWrite
from .errors import ContainerError
from .fileio import write_once

# How long freezing, killing and removing may take before the runtime gives up with an error.
DEADLINE_SECONDS = 10.0
# The longest wait between two looks at cgroup.events: kernfs notifies pollers of changes, but a look at least
# this often keeps a missed notification from costing the whole deadline.
POLL_SLICE_SECONDS = 0.05


class Cgroup:
    """The cgroup at `path` ("/kharness/id") of the cgroup2 hierarchy mounted at `root` ("/sys/fs/cgroup")."""

    def __init__(self, root: str, path: str) -> None:
        self.root = root
        self.path = path
        self.directory = os.path.join(root, path.lstrip("/"))

    def __repr__(self) -> str:
        return f"Cgroup({self.directory!r})"

    def file(self, name: str) -> str:
        return os.path.join(self.directory, name)

    # -- creation and limits --------------------------------------------------------------------

    def create(self, required: list[str], optional: list[str] = ()) -> None:
        """Make the directory and its missing ancestors, enabling the controllers top-down in each ancestor's
        cgroup.subtree_control; `optional` controllers are enabled only where the parent offers them.

        An existing directory is reused only if no process is in it: a container must not adopt another's tasks.
        """
        current = self.root
        for part in self.path.strip("/").split("/"):
            offered = set(read_file(os.path.join(current, "cgroup.controllers")).split())
            missing = [name for name in required if name not in offered]
            if missing:
                raise ContainerError(f"{os.path.join(current, 'cgroup.controllers')} does not offer the "
                                     f"{' '.join(missing)} controller, so {self.directory} cannot get it")
            _enable(current, [name for name in (*required, *optional) if name in offered])
            current = os.path.join(current, part)
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                if not os.path.isdir(current):  # ids like "cgroup.procs" name the parent's interface files
                    raise ContainerError(f"cannot create the cgroup {current}: the parent has a file of that name (a "
                                         f"cgroup interface file); choose another container id or "
                                         f"linux.cgroupsPath") from None
                # else a shared parent, or a cgroup prepared by the caller
            except OSError as error:
                raise ContainerError(f"cannot create the cgroup {current}: {error.strerror}") from error
        occupants = self.procs()
        if occupants:
            raise ContainerError(f"the cgroup {self.directory} already holds processes {occupants}")

    def apply(self, writes: list[ControlWrite]) -> None:
        """Write each limit; an error names the JSON path, the file and the value."""
        for write in writes:
            name, value = write.file, write.value
            if not os.path.exists(self.file(name)):
                if write.alternative is not None:
                    name, value = write.alternative
                elif write.skip_if_missing:
                    continue
            self.write(name, value, what=write.path)

    def write(self, name: str, value: str, what: str | None = None) -> None:
        """Write `value` to the control file `name` in one write(2); errors name the file and the value."""
        path = self.file(name)
        try:
            write_once(path, value)
        except OSError as error:
            prefix = f"{what}: " if what else ""
            raise ContainerError(f"{prefix}writing {value!r} to {path} failed: {error.strerror}") from error

    def open(self) -> int:
        """A descriptor of the directory, for clone3(CLONE_INTO_CGROUP) and BPF_PROG_ATTACH."""
        try:
            return os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            raise ContainerError(f"cannot open the cgroup {self.directory}: {error.strerror}") from error

    def add_process(self, pid: int) -> None:
        """Move `pid` (and its threads) into this cgroup."""
        self.write("cgroup.procs", str(pid))

    # -- processes ------------------------------------------------------------------------------

    def procs(self) -> list[int]:
        """The pids in this cgroup and every cgroup below it (the container may have made its own)."""
        pids = []
        for directory in self._tree(bottom_up=False):
            try:
                pids += [int(line) for line in read_file(os.path.join(directory, "cgroup.procs")).split()]
            except FileNotFoundError:
                continue  # removed while we walked
        return sorted(pids)

    def exists(self) -> bool:
        return os.path.isdir(self.directory)

    def is_frozen(self) -> bool:
        """Whether the cgroup was asked to freeze (cgroup.freeze is 1): `pause` without `resume`."""
        try:
            return read_file(self.file("cgroup.freeze")).strip() == "1"
        except FileNotFoundError:
            return False

    def freeze(self, deadline: float = DEADLINE_SECONDS) -> None:
        """Freeze every process below the cgroup and wait until cgroup.events says "frozen 1"."""
        self.write("cgroup.freeze", "1")
        self.wait_event("frozen", "1", deadline)

    def thaw(self, deadline: float = DEADLINE_SECONDS) -> None:
        """Thaw the cgroup and wait until cgroup.events says "frozen 0"."""
        self.write("cgroup.freeze", "0")
        self.wait_event("frozen", "0", deadline)

    def events(self) -> dict[str, int]:
        return parse_flat_keyed(read_file(self.file("cgroup.events")))

    def wait_event(self, key: str, value: str, deadline: float = DEADLINE_SECONDS) -> None:
        """Poll cgroup.events until `key` has `value`, or raise ContainerError after `deadline` seconds."""
        if not self._wait_event(key, value, deadline):
            raise ContainerError(f"{self.file('cgroup.events')} still says {self.events()} after {deadline:.0f} s "
                                 f"(waiting for {key} {value})")

    def _wait_event(self, key: str, value: str, deadline: float) -> bool:
        """Whether cgroup.events shows `key` with `value` within `deadline` seconds."""
        give_up = time.monotonic() + deadline
        fd = os.open(self.file("cgroup.events"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI)
            while True:
                if parse_flat_keyed(os.pread(fd, 4096, 0).decode()).get(key) == int(value):
                    return True
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    return False
                poller.poll(1000 * min(remaining, POLL_SLICE_SECONDS))
        finally:
            os.close(fd)

    def signal_all(self, signum: int) -> None:
        """Send `signum` to every process, frozen meanwhile so that none forks past the loop (runc's kill --all)."""
        # Already frozen (paused), or no freezer (before Linux 5.2): signal as things are.
        frozen_before = self.is_frozen() or not os.path.exists(self.file("cgroup.freeze"))
        if not frozen_before:
            self.freeze()
        try:
            for pid in self.procs():
                _kill(pid, signum)
        finally:
            if not frozen_before:
                self.thaw()

    def kill(self, deadline: float = DEADLINE_SECONDS, native: bool | None = None) -> None:
        """SIGKILL every process below the cgroup and wait until none is left.

        cgroup.kill (Linux 5.14) does it in the kernel, atomically against forks. Without it: freeze (so nothing
        forks between reading cgroup.procs and the kills), SIGKILL each pid, thaw so the deaths proceed, and loop
        until the tree is empty. A fatal signal reaches frozen tasks in cgroup v2, so the freeze cannot block it.
        `native` None uses cgroup.kill where the cgroup has it; False forces the fallback.
        """
        give_up = time.monotonic() + deadline
        if native is None:
            native = os.path.exists(self.file("cgroup.kill"))
        while True:
            pids = self.procs()
            if not pids:
                return
            if time.monotonic() > give_up:
                raise ContainerError(f"processes {pids} of the cgroup {self.directory} survived SIGKILL for "
                                     f"{deadline:.0f} s")
            if native:
                self.write("cgroup.kill", "1")
            else:
                self._kill_by_pid(pids)
            # "populated 0": no live process below; if not within a second, look at the pids again and re-kill.
            self._wait_event("populated", "0", max(0.0, min(give_up - time.monotonic(), 1.0)))

    def _kill_by_pid(self, pids: list[int]) -> None:
        has_freezer = os.path.exists(self.file("cgroup.freeze"))
        if has_freezer:
            self.write("cgroup.freeze", "1")  # no wait: a task stuck in the kernel must not stop the kill
        try:
            for pid in self.procs() or pids:
                _kill(pid, signal.SIGKILL)
        finally:
            if has_freezer:
                self.write("cgroup.freeze", "0")

    # -- removal --------------------------------------------------------------------------------

    def remove(self, deadline: float = DEADLINE_SECONDS) -> None:
        """rmdir the cgroup and everything below it, deepest first, retrying while the kernel says EBUSY (a
        killed task can take a moment to leave)."""
        remove_cgroup_tree(self.directory, deadline)

    def _tree(self, bottom_up: bool) -> list[str]:
        """This directory and every cgroup directory below it, parents first or children first."""
        return [directory for directory, _, _ in os.walk(self.directory, topdown=not bottom_up)]


def remove_cgroup_tree(top: str, deadline: float, what: str = "cgroup", busy_detail=lambda: "") -> None:
    """rmdir `top` and every directory below it, deepest first; one gone already is fine. EBUSY (the tasks of a
    killed container still leaving) is retried for `deadline` seconds, then a ContainerError naming the directory,
    the error and busy_detail()."""
    give_up = time.monotonic() + deadline
    for directory in [directory for directory, _, _ in os.walk(top, topdown=False)]:
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as error:
                if error.errno != errno.EBUSY or time.monotonic() > give_up:
                    detail = busy_detail() if error.errno == errno.EBUSY else ""
                    raise ContainerError(f"cannot remove the {what} {directory}: {error.strerror}{detail}") \
                        from error
                time.sleep(POLL_SLICE_SECONDS)


def _enable(directory: str, controllers: list[str]) -> None:
    """Enable `controllers` in the subtree_control of `directory`, writing only those not enabled yet."""
    path = os.path.join(directory, "cgroup.subtree_control")
    enabled = set(read_file(path).split())
    missing = [name for name in controllers if name not in enabled]
    if not missing:
        return
    value = " ".join(f"+{name}" for name in missing)
    try:
        write_once(path, value)
    except OSError as error:
        hint = " (the cgroup holds processes, which cgroup v2 forbids for a parent)" \
            if error.errno == errno.EBUSY else ""
        raise ContainerError(f"writing {value!r} to {path} failed: {error.strerror}{hint}") from error


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # exited since cgroup.procs was read


def read_file(path: str) -> str:
    with open(path, encoding="ascii") as control:
        return control.read()


def parse_flat_keyed(text: str) -> dict[str, int]:
    """ "key value" lines (cgroup.events, memory.events, cpu.stat, pids.events) as a dict of ints."""
    result = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key:
            result[key] = int(value)
    return result
