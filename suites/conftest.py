"""Fixtures of the suites: the runtime under test, bundles, a container factory that always cleans up."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from harness import containers
from harness.containers import BundleFactory, Result, make_runtime, wait_for

from .profiles import register_profiles


def pytest_configure(config):
    register_profiles(config.getoption("--kharness-profile"))


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
    """The runtime under test (--runtime / KHARNESS_RUNTIME): bundled by default, or runc, crun, a path."""
    state = workdir / "state"
    state.mkdir()
    try:
        chosen = make_runtime(request.config.getoption("--runtime"), state)
    except containers.RuntimeNotFound as exc:
        pytest.skip(str(exc))
    sabotage = request.config.getoption("--sabotage")
    return containers.SabotagedRuntime(chosen, sabotage) if sabotage else chosen


@pytest.fixture(scope="session")
def bundles(workdir) -> BundleFactory:
    return BundleFactory(workdir / "bundles")


class Running:
    """A started container: its id, its init's host pid, and where its output goes."""

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


class ContainerFactory:
    """Builds a bundle per container and runs or starts it; everything it started is deleted at teardown."""

    def __init__(self, runtime: containers.Runtime, bundles: BundleFactory, workdir: Path):
        self.runtime, self.bundles, self.workdir = runtime, bundles, workdir
        self.started: list[str] = []

    def config(self, args: list[str]) -> dict:
        return self.bundles.config(args)

    def run(self, args: list[str] | None = None, config: dict | None = None, timeout: float = 120.0) -> Result:
        """Run to completion; the result carries the exit status, stdout and stderr."""
        config = config or self.config(args)
        cid = f"kh-{uuid.uuid4().hex[:10]}"
        return self.runtime.run(self.bundles.bundle(config), cid, timeout)

    def start(self, args: list[str] | None = None, config: dict | None = None) -> Running:
        """Create and start a long-running container (its output goes to a file)."""
        config = config or self.config(args)
        cid = f"kh-{uuid.uuid4().hex[:10]}"
        output = self.workdir / f"{cid}.out"
        self.runtime.create(self.bundles.bundle(config), cid, output)
        self.started.append(cid)
        self.runtime.start(cid)
        return Running(self.runtime, cid, output)

    def cleanup(self) -> None:
        started, self.started = self.started, []  # idempotent: the cgroup fixture may clean up first
        for cid in started:
            try:
                self.runtime.delete(cid, force=True)
            except Exception as exc:  # noqa: BLE001 - report, but keep deleting the others
                print(f"cleanup of container {cid} failed: {exc}", file=sys.stderr)


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
    container.cleanup()
    parent.remove()
