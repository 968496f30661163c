"""Containers for the suites: one interface over the bundled runtime (library API) and OCI runtime CLIs.

`--runtime bundled` (the default) drives harness.runtime through its library API; `bundled-cli`
through `python -m harness.runtime`; `runc`, `crun` or a path drive that binary's runc-compatible
CLI. The same bundles go to all of them, so the suites double as a conformance check.

A bridged network (the org.kharness.network annotation, harness/runtime/network_spec.py) is the bundled
runtime's own work; for runc, crun and other CLIs the harness adds OCI hooks that build the same veth pair
around them, as a CNI plugin would (harness/runtime/network_hook.py), and releases it after their delete.

`run` and `create` take `pass_fds`: descriptors of the caller that the runtime inherits (a CLI runtime
gets them through subprocess's pass_fds; the library API runs in this process, which holds them
anyway), as a careless caller would leak them. `exec` runs a command in a running container.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .runtime import api
from .runtime.network_hook import with_network_hooks
from .runtime.network_spec import networks_exist
from .runtime.default_spec import default_config
from .runtime.rootfs_builder import build_rootfs

RUN_TIMEOUT = 120.0  # seconds; TCG is slow, but a container that takes this long is hung


class RuntimeNotFound(LookupError):
    """The runtime asked for with --runtime is not installed."""


@dataclass
class Result:
    """How a container ended: its exit status (128+N for signal N) and its output."""

    status: int
    stdout: str
    stderr: str

    def check(self) -> "Result":
        assert self.status == 0, f"container exited {self.status}; stderr: {self.stderr.strip()[-400:]}"
        return self


class Runtime:
    """A runtime with runc's lifecycle: run, create, start, state, kill, delete."""

    name = "runtime"

    def __init__(self, state_root: Path):
        self.state_root = state_root

    def run(self, bundle: Path, cid: str, timeout: float = RUN_TIMEOUT, pass_fds: tuple[int, ...] = ()) -> Result:
        raise NotImplementedError

    def create(self, bundle: Path, cid: str, output: Path, pass_fds: tuple[int, ...] = (),
               console_socket: str | None = None) -> None:
        """Create cid, its stdio to `output` (or, with process.terminal, a pty whose master goes to
        `console_socket`), waiting for start."""
        raise NotImplementedError

    def exec(self, cid: str, args: list[str], timeout: float = RUN_TIMEOUT) -> Result:
        """Run args in the running container cid (its namespaces, and the process settings it was created with)."""
        raise NotImplementedError

    def start(self, cid: str) -> None:
        raise NotImplementedError

    def state(self, cid: str) -> dict:
        raise NotImplementedError

    def kill(self, cid: str, sig: int = signal.SIGKILL) -> None:
        raise NotImplementedError

    def delete(self, cid: str, force: bool = True, missing_ok: bool = False) -> None:
        raise NotImplementedError


class BundledRuntime(Runtime):
    """harness.runtime through its library API (no interpreter start per container)."""

    name = "bundled"

    # The library runs in this process: every descriptor of ours, pass_fds ones included, is the runtime's too.

    def run(self, bundle: Path, cid: str, timeout: float = RUN_TIMEOUT, pass_fds: tuple[int, ...] = ()) -> Result:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, open(os.devnull, "rb") as null:
            status = api.run(str(bundle), cid, root=str(self.state_root), stdin=null, stdout=out, stderr=err)
            out.seek(0)
            err.seek(0)
            return Result(status, out.read().decode(errors="replace"), err.read().decode(errors="replace"))

    def create(self, bundle: Path, cid: str, output: Path, pass_fds: tuple[int, ...] = (),
               console_socket: str | None = None) -> None:
        with open(output, "wb") as out, open(os.devnull, "rb") as null:
            api.create(str(bundle), cid, root=str(self.state_root), stdin=null, stdout=out, stderr=out,
                       console_socket=console_socket)

    def exec(self, cid: str, args: list[str], timeout: float = RUN_TIMEOUT) -> Result:
        # api.exec_in gives the process this process's stdio and takes no streams: the CLI captures its output.
        return _bundled_cli(self.state_root).exec(cid, args, timeout)

    def start(self, cid: str) -> None:
        api.start(cid, root=str(self.state_root))

    def state(self, cid: str) -> dict:
        return api.state(cid, root=str(self.state_root))

    def kill(self, cid: str, sig: int = signal.SIGKILL) -> None:
        api.kill(cid, sig, root=str(self.state_root))

    def delete(self, cid: str, force: bool = True, missing_ok: bool = False) -> None:
        if missing_ok and not (self.state_root / cid).exists():
            return
        api.delete(cid, force=force, root=str(self.state_root))


class CliRuntime(Runtime):
    """Any runc-compatible CLI: runc, crun, or `python -m harness.runtime`."""

    def __init__(self, state_root: Path, argv: list[str], name: str, env: dict[str, str] | None = None):
        super().__init__(state_root)
        self.argv = argv
        self.name = name
        self.env = env  # None: the runtime inherits this process's environment
        # Only our own CLI reads org.kharness.network; the others get it as hooks (see the module docstring).
        self.native_network = name == "bundled-cli"

    def _with_network(self, bundle: Path) -> Path:
        """The bundle, its config given the network hooks when the runtime does not build the network itself."""
        if not self.native_network:
            path = bundle / "config.json"
            config = json.loads(path.read_text())
            hooked = with_network_hooks(config, str(self.state_root))
            if hooked is not config and not _has_network_hooks(config):  # a bundle used twice gets them once
                path.write_text(json.dumps(hooked, indent=1))
        return bundle

    def _cmd(self, *args: str) -> list[str]:
        return [*self.argv, "--root", str(self.state_root), *args]

    @staticmethod
    def _id(cid: str) -> tuple[str, ...]:
        """The id as the last options-free argument: one starting with "-" goes after "--" (never read as a flag)."""
        return ("--", cid) if cid.startswith("-") else (cid,)

    def _call(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, env=self.env)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def run(self, bundle: Path, cid: str, timeout: float = RUN_TIMEOUT, pass_fds: tuple[int, ...] = ()) -> Result:
        # `run` deletes its container when it exits; a `delete` after every run would be a second CLI start in
        # each benchmark round (0.6 s for ours under TCG), so it is only the clean-up of a run that failed.
        bundle = self._with_network(bundle)
        try:
            result = subprocess.run(self._cmd("run", "--bundle", str(bundle), *self._id(cid)), capture_output=True,
                                    text=True, timeout=timeout, stdin=subprocess.DEVNULL, pass_fds=pass_fds,
                                    env=self.env)
        except BaseException:
            self.delete(cid, force=True, missing_ok=True)
            raise
        if result.returncode != 0:
            self.delete(cid, force=True, missing_ok=True)
        return Result(result.returncode, result.stdout, result.stderr)

    def create(self, bundle: Path, cid: str, output: Path, pass_fds: tuple[int, ...] = (),
               console_socket: str | None = None) -> None:
        # The container inherits create's stdio: give it a file, never a pipe nobody drains.
        console = ("--console-socket", console_socket) if console_socket else ()
        bundle = self._with_network(bundle)
        with open(output, "wb") as out:
            result = subprocess.run(self._cmd("create", "--bundle", str(bundle), *console, *self._id(cid)), stdout=out,
                                    stderr=out, stdin=subprocess.DEVNULL, timeout=60, pass_fds=pass_fds,
                                    env=self.env)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name} create {cid} exited {result.returncode}: {output.read_text()[-400:]}")

    def exec(self, cid: str, args: list[str], timeout: float = RUN_TIMEOUT) -> Result:
        result = subprocess.run(self._cmd("exec", *self._id(cid), *args), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL, env=self.env)
        return Result(result.returncode, result.stdout, result.stderr)

    def start(self, cid: str) -> None:
        self._call("start", *self._id(cid))

    def state(self, cid: str) -> dict:
        return json.loads(self._call("state", *self._id(cid)).stdout)

    def kill(self, cid: str, sig: int = signal.SIGKILL) -> None:
        self._call("kill", *self._id(cid), str(int(sig)))

    def delete(self, cid: str, force: bool = True, missing_ok: bool = False) -> None:
        args = ("delete", "--force", *self._id(cid)) if force else ("delete", *self._id(cid))
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL, env=self.env)
        if result.returncode != 0 and not (missing_ok or "not exist" in result.stderr
                                           or "does not exist" in result.stderr):
            raise RuntimeError(f"{self.name} delete {cid}: {result.stderr.strip()}")
        if not self.native_network and networks_exist():
            # The poststop hook released it; this is for a container whose create failed before any hook ran.
            from .runtime.network import release
            release(str(self.state_root), cid)


class SabotagedRuntime(Runtime):
    """A runtime broken on purpose, to prove the suites can fail: it rewrites every bundle's config
    before passing it on, dropping a namespace type ("namespace:ipc") or a resource ("resource:memory")."""

    def __init__(self, inner: Runtime, sabotage: str):
        super().__init__(inner.state_root)
        kind, _, what = sabotage.partition(":")
        if kind not in ("namespace", "resource") or not what:
            raise ValueError(f"--sabotage {sabotage!r}: expected namespace:<type> or resource:<name>")
        self.inner, self.kind, self.what = inner, kind, what
        self.name = f"{inner.name}+sabotage({sabotage})"

    def _break(self, bundle: Path) -> Path:
        path = bundle / "config.json"
        config = json.loads(path.read_text())
        linux = config.get("linux", {})
        if self.kind == "namespace":
            linux["namespaces"] = [n for n in linux.get("namespaces", []) if n["type"] != self.what]
            if self.what == "uts":
                config.pop("hostname", None)
                config.pop("domainname", None)
            if self.what == "user":
                linux.pop("uidMappings", None)
                linux.pop("gidMappings", None)
            if self.what == "time":
                linux.pop("timeOffsets", None)
        else:
            linux.get("resources", {}).pop(self.what, None)
        path.write_text(json.dumps(config))
        return bundle

    def run(self, bundle: Path, cid: str, timeout: float = RUN_TIMEOUT, pass_fds: tuple[int, ...] = ()) -> Result:
        return self.inner.run(self._break(bundle), cid, timeout, pass_fds=pass_fds)

    def create(self, bundle: Path, cid: str, output: Path, pass_fds: tuple[int, ...] = ()) -> None:
        self.inner.create(self._break(bundle), cid, output, pass_fds=pass_fds)

    def exec(self, cid: str, args: list[str], timeout: float = RUN_TIMEOUT) -> Result:
        return self.inner.exec(cid, args, timeout)

    def start(self, cid: str) -> None:
        self.inner.start(cid)

    def state(self, cid: str) -> dict:
        return self.inner.state(cid)

    def kill(self, cid: str, sig: int = signal.SIGKILL) -> None:
        self.inner.kill(cid, sig)

    def delete(self, cid: str, force: bool = True, missing_ok: bool = False) -> None:
        self.inner.delete(cid, force, missing_ok=missing_ok)


def _has_network_hooks(config: dict) -> bool:
    return any("harness.runtime.network_hook" in hook.get("args", [])
               for hook in config.get("hooks", {}).get("prestart", []))


def _bundled_cli(state_root: Path) -> CliRuntime:
    """`python -m harness.runtime` over state_root, importing this very harness package whatever the cwd."""
    project = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([project, path]) if path else project)
    return CliRuntime(state_root, [sys.executable, "-m", "harness.runtime"], "bundled-cli", env=env)


def runtime_binary(choice: str) -> str:
    """The binary of a CLI runtime named by --runtime (a name on PATH, or a path); RuntimeNotFound names the fix."""
    binary = shutil.which(choice) if "/" not in choice else (choice if os.access(choice, os.X_OK) else None)
    if binary is None:
        where = "is not an executable file" if "/" in choice else "is not on PATH"
        raise RuntimeNotFound(f"--runtime {choice}: {where}; expected bundled, bundled-cli, or an installed "
                              f"runc-compatible runtime (`python -m harness setup --install` installs runc and "
                              f"crun; for others apt-get install {Path(choice).name})")
    return binary


def make_runtime(choice: str, state_root: Path) -> Runtime:
    """The runtime named by --runtime: bundled, bundled-cli, runc, crun, or a path to a runc-like binary."""
    if choice == "bundled":
        return BundledRuntime(state_root)
    if choice == "bundled-cli":
        return CliRuntime(state_root, [sys.executable, "-m", "harness.runtime"], "bundled-cli")
    binary = runtime_binary(choice)
    return CliRuntime(state_root, [binary], Path(binary).name)


@dataclass
class BundleFactory:
    """Bundles over one shared, read-only busybox rootfs: each container gets its own config.json."""

    workdir: Path
    rootfs: Path = field(init=False)

    def __post_init__(self) -> None:
        # 0755 all the way: a user-namespaced container's root (an unprivileged host uid) must reach it.
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.rootfs = Path(build_rootfs(str(self.workdir / "rootfs")))
        os.chmod(self.rootfs, 0o755)

    def config(self, args: list[str]) -> dict:
        """The `runc spec` default with these args, the shared rootfs, and a writable /tmp."""
        config = default_config(args)
        config["root"]["path"] = str(self.rootfs)
        config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                 "options": ["nosuid", "nodev", "mode=1777"]})
        return config

    def bundle(self, config: dict) -> Path:
        bundle = self.workdir / f"bundle-{uuid.uuid4().hex[:10]}"
        bundle.mkdir()
        os.chmod(bundle, 0o755)
        (bundle / "config.json").write_text(json.dumps(config, indent=1))
        return bundle


def with_namespaces(config: dict, kinds: list[str]) -> dict:
    """A copy of config whose linux.namespaces are exactly these types (fresh ones)."""
    config = copy.deepcopy(config)
    config["linux"]["namespaces"] = [{"type": kind} for kind in kinds]
    if "uts" not in kinds:
        config.pop("hostname", None)
    if "user" in kinds:
        config["linux"].setdefault("uidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
        config["linux"].setdefault("gidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}])
    return config


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; raise AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
