"""Fixtures of the suites: the runtime under test, bundles, a container factory that always cleans up, and the host
side of an attack (a canary, what must not be left behind)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness import containers
from harness.containers import BundleFactory, Result, make_runtime, wait_for
from harness.plugin import runtimes_or

from .profiles import register_profiles


def pytest_configure(config):
    register_profiles(config.getoption("--kharness-profile"))


def pytest_generate_tests(metafunc):
    """With more than one runtime selected (--runtime a,b or all), every test that starts containers runs once
    per runtime; with one, test ids stay as they are, so results compare across runs."""
    names = runtimes_or(metafunc.config, ["bundled"])
    if len(names) > 1 and "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def as_root() -> None:
    """Containers need root: skip everything that starts one when the suites run unprivileged."""
    if os.geteuid() != 0:
        pytest.skip("starting containers needs root (run in a harness guest, or `sudo pytest suites`)")


@pytest.fixture(scope="session")
def workdir(as_root):
    path = Path(tempfile.mkdtemp(prefix="kharness-suites-"))
    os.chmod(path, 0o755)  # a user-namespaced container's root (an unprivileged host uid) must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime(request, workdir) -> containers.Runtime:
    """The runtime under test (--runtime / KHARNESS_RUNTIME): bundled by default, or runc, crun, a path; one of
    several when more are selected (see pytest_generate_tests)."""
    name = getattr(request, "param", None) or runtimes_or(request.config, ["bundled"])[0]
    state = workdir / f"state-{name.replace('/', '_')}"
    state.mkdir()
    # Not a skip: a runtime asked for and missing would turn every container test into a green skip (the
    # plugin refuses it at configure; this is the last line).
    chosen = make_runtime(name, state)
    sabotage = request.config.getoption("--sabotage")
    return containers.SabotagedRuntime(chosen, sabotage) if sabotage else chosen


@pytest.fixture(scope="session")
def bundles(workdir) -> BundleFactory:
    return BundleFactory(workdir / "bundles")


class Running:
    """A created or started container: its id, its init's host pid, and where its output goes."""

    def __init__(self, runtime: containers.Runtime, cid: str, output: Path):
        self.runtime, self.cid, self.output = runtime, cid, output
        self.pid = int(runtime.state(cid)["pid"])

    def output_text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_output(self, marker: str, timeout: float = 60.0) -> str:
        """Poll the container's output until it contains marker (never a bare sleep)."""
        return wait_for(lambda: marker in self.output_text() and self.output_text(), timeout,
                        what=f"{marker!r} in the output of container {self.cid}")

    def proc(self, name: str) -> str:
        """A file of the container init's /proc entry, read from the host."""
        return Path(f"/proc/{self.pid}/{name}").read_text()


class ContainerCleanupError(RuntimeError):
    """Deleting a test's containers failed: the test errors at teardown (what it left may break the next ones)."""


class ContainerFactory:
    """Builds a bundle per container and runs or starts it; everything it started is deleted at teardown."""

    def __init__(self, runtime: containers.Runtime, bundles: BundleFactory, workdir: Path):
        self.runtime, self.bundles, self.workdir = runtime, bundles, workdir
        self.started: list[str] = []
        self.failed: list[str] = []  # ids whose create raised

    def config(self, args: list[str]) -> dict:
        return self.bundles.config(args)

    @staticmethod
    def new_id() -> str:
        return f"kh-{uuid.uuid4().hex[:10]}"

    def run(self, args: list[str] | None = None, config: dict | None = None, timeout: float = 120.0,
            cid: str | None = None, pass_fds: tuple[int, ...] = ()) -> Result:
        """Run to completion; the result carries the exit status, stdout and stderr. `pass_fds`: descriptors of
        this process the runtime inherits (see harness.containers)."""
        config = config or self.config(args)
        cid = cid or self.new_id()
        if pass_fds:
            return self.runtime.run(self.bundles.bundle(config), cid, timeout, pass_fds=pass_fds)
        return self.runtime.run(self.bundles.bundle(config), cid, timeout)

    def create(self, args: list[str] | None = None, config: dict | None = None, cid: str | None = None,
               pass_fds: tuple[int, ...] = ()) -> Running:
        """Create a container and leave it waiting for start (its output goes to a file); deleted at teardown."""
        config = config or self.config(args)
        cid = cid or self.new_id()
        output = self.workdir / f"{cid}.out"
        bundle = self.bundles.bundle(config)
        try:
            if pass_fds:
                self.runtime.create(bundle, cid, output, pass_fds=pass_fds)
            else:
                self.runtime.create(bundle, cid, output)
        except BaseException:
            self.failed.append(cid)  # it may still have left something; the test sees it first, teardown removes it
            raise
        self.started.append(cid)
        return Running(self.runtime, cid, output)

    def start(self, args: list[str] | None = None, config: dict | None = None) -> Running:
        """Create and start a long-running container (its output goes to a file)."""
        running = self.create(args, config)
        self.runtime.start(running.cid)
        return running

    def remove(self, container: Running) -> None:
        """Delete one container now (force), rather than at teardown."""
        self.runtime.delete(container.cid, force=True)
        self.started.remove(container.cid)

    def cleanup(self) -> None:
        """Delete every container this factory made; raise ContainerCleanupError, naming each container and the
        runtime's error, if any delete failed (after trying all of them): a container left behind is a failure."""
        started, self.started = self.started, []  # idempotent: the cgroup fixture may clean up first
        failed, self.failed = self.failed, []
        errors = []
        for cid in [*started, *failed]:
            try:
                self.runtime.delete(cid, force=True, missing_ok=cid in failed)
            except Exception as exc:  # noqa: BLE001 - keep deleting the others, then fail
                errors.append(f"container {cid}: {type(exc).__name__}: {exc}")
        if errors:
            raise ContainerCleanupError(f"{self.runtime.name} delete --force failed at teardown for "
                                        f"{len(errors)} container(s): " + "; ".join(errors))


@pytest.fixture(scope="module")
def plain_container_runs(runtime, bundles):
    """Skip the module when the runtime cannot run a plain container on this host (crun, for one, refuses a v1/v2
    hybrid host), rather than report every test of it as a failure of the feature it tests."""
    cid = f"kh-plain-{secrets.token_hex(4)}"
    try:
        result = runtime.run(bundles.bundle(bundles.config(["true"])), cid, 60.0)
    except (OSError, RuntimeError, ValueError) as error:  # a refusal: ContainerError, SpecError, a CLI failure
        result = Result(-1, "", f"{type(error).__name__}: {error}")
    if result.status != 0:
        output = (result.stdout + result.stderr).strip()[-300:]
        pytest.skip(f"{runtime.name} cannot run a plain container on this host: {output}")


@pytest.fixture
def container(runtime, bundles, workdir):
    """Factory: container.run(args) -> Result, container.start(args) -> Running; all deleted afterwards."""
    factory = ContainerFactory(runtime, bundles, workdir)
    yield factory
    factory.cleanup()


def python_mounts() -> list[dict]:
    """Read-only bind mounts that make this interpreter run inside a busybox rootfs, at the same paths."""
    sources = {sys.prefix, sys.base_prefix, "/usr/lib", "/usr/lib64"}
    return [{"destination": s, "type": "bind", "source": s, "options": ["rbind", "ro"]}
            for s in sorted(sources) if os.path.isdir(s) and not os.path.islink(s)]


@pytest.fixture(scope="session")
def python_in_container(bundles) -> tuple[str, list[dict]]:
    """(interpreter path, mounts) for workloads that need precise allocation or measurements."""
    for top in ("lib", "lib64"):
        host = Path("/") / top
        link = bundles.rootfs / top
        if host.is_symlink() and not os.path.lexists(link):
            link.symlink_to(os.readlink(host))
    return sys.executable, python_mounts()


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def cgroup_parent(as_root, container):
    """A parent cgroup for this test's containers (needs cgroup v2 with controllers: a harness guest).

    It asks for `container` so that it is torn down first: the containers are deleted (and their
    cgroups with them) before the parent is removed."""
    from harness import features

    from .cgroup_support import CgroupParent
    if not features.has("cgroup2") or not (Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()):
        pytest.skip("cgroup v2 with controllers is needed (this host's is a hybrid without): run in a guest")
    parent = CgroupParent()
    yield parent
    try:
        container.cleanup()
    finally:
        parent.remove()  # whatever the deletes did: a failed one is reported, and the rest still removed


# The host side of an attack (suites/test_security.py): a canary the containers must not reach, and what a
# runtime must not leave behind.

def mount_points(mountinfo: str) -> list[tuple[str, str]]:
    """(root within its filesystem, mount point) of every line of a mountinfo file."""
    return [(line.split()[3], line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


class Canary:
    """A host directory holding a file with a random secret; nothing of a container may touch or read it."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="kharness-canary-"))
        self.secret = f"KH-CANARY-{secrets.token_hex(16)}"
        self.file = self.directory / "secret"
        self.file.write_text(self.secret + "\n")

    def assert_intact(self, *outputs: str) -> None:
        """The secret is in none of `outputs`; the file, its directory and the mounts on them are as made."""
        for text in outputs:
            assert self.secret not in text, f"the host canary's secret reached a container: {text[-600:]}"
        assert self.file.read_text() == self.secret + "\n", "the host canary file was rewritten"
        assert sorted(os.listdir(self.directory)) == ["secret"], \
            f"a container created files next to the host canary: {sorted(os.listdir(self.directory))}"
        mounted = [point for _, point in mount_points(Path("/proc/self/mountinfo").read_text())
                   if point == str(self.directory) or point.startswith(f"{self.directory}/")]
        assert not mounted, f"something is mounted on the host canary directory: {mounted}"


@pytest.fixture
def canary(as_root):
    """A Canary in the host's temporary directory (outside every rootfs), removed afterwards."""
    made = Canary()
    yield made
    shutil.rmtree(made.directory, ignore_errors=True)


def container_processes(workdir: Path) -> dict[int, str]:
    """{pid: command line} of live processes a runtime made for our containers: children of this process, and
    processes of another pid namespace whose root mount is one of our rootfs (under workdir; matching on it
    leaves out containers that something else on the machine runs meanwhile)."""
    mine, me = os.stat("/proc/self/ns/pid").st_ino, os.getpid()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            if state in ("Z", "X"):
                continue
            ours = int(ppid) == me
            if not ours and os.stat(f"/proc/{name}/ns/pid").st_ino != mine:
                roots = [root for root, point in mount_points(Path(f"/proc/{name}/mountinfo").read_text())
                         if point == "/"]
                ours = any(workdir.name in root for root in roots)
            if ours:
                found[int(name)] = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
        except (OSError, ValueError):
            continue  # gone while we looked
    return found


class HostState:
    """What the host had before a test: our container processes and the runtime's state entries."""

    def __init__(self, runtime: containers.Runtime, workdir: Path) -> None:
        self.runtime, self.workdir = runtime, workdir
        self.processes = set(container_processes(workdir))
        self.entries = self.state_entries()

    def state_entries(self) -> set[str]:
        root = self.runtime.state_root
        return set(os.listdir(root)) if root.exists() else set()

    def assert_clean(self, factory: ContainerFactory | None = None, timeout: float = 20.0) -> None:
        """Delete the factory's containers, then: no new process of ours and no new state entry (polled: a
        killed pid namespace takes a moment to empty)."""
        if factory is not None:
            factory.cleanup()
        deadline = time.monotonic() + timeout
        while True:
            left = {pid: cmd for pid, cmd in container_processes(self.workdir).items() if pid not in self.processes}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for pid in left:
            kill_quietly(pid)  # undo what a broken runtime left, so that the next tests start clean
        assert not left, f"container processes outlived their containers (killed now): {left}"
        assert self.state_entries() - self.entries == set(), \
            f"state entries left in {self.runtime.state_root}: {sorted(self.state_entries() - self.entries)}"


@pytest.fixture
def host(runtime, workdir) -> HostState:
    """The host as it was before the test; `host.assert_clean(container)` checks nothing was left."""
    return HostState(runtime, workdir)


@pytest.fixture
def private_rootfs(bundles, workdir):
    """A copy of the shared busybox rootfs, for a test that plants symlinks or directories in it."""
    path = workdir / f"rootfs-{secrets.token_hex(4)}"
    shutil.copytree(bundles.rootfs, path, symlinks=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)
