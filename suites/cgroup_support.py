"""Helpers of the cgroup suites: a parent cgroup per test, reading cgroup files, container configs with limits."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from harness.containers import wait_for

CGROUP = Path("/sys/fs/cgroup")
SUITE_ROOT = CGROUP / "kharness-suites"
CONTROLLERS = ("cpu", "memory", "pids", "cpuset", "io")


def read_keyed(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (memory.events, cpu.stat, pids.events) as a dict of ints."""
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines() if line.strip())}


class CgroupParent:
    """A cgroup created by the test under which the runtime creates the containers' cgroups."""

    def __init__(self) -> None:
        SUITE_ROOT.mkdir(exist_ok=True)
        available = (CGROUP / "cgroup.controllers").read_text().split()
        # Delegate down to our suite root (the guest's init enabled them at the top level).
        (SUITE_ROOT / "cgroup.subtree_control").write_text(
            " ".join(f"+{c}" for c in CONTROLLERS if c in available))
        self.path = SUITE_ROOT / f"t-{uuid.uuid4().hex[:8]}"
        self.path.mkdir()

    def cgroups_path(self, name: str | None = None) -> str:
        """An absolute linux.cgroupsPath for a container under this parent."""
        return "/" + str((self.path / (name or f"c-{uuid.uuid4().hex[:8]}")).relative_to(CGROUP))

    def child(self, cgroups_path: str) -> Path:
        return CGROUP / cgroups_path.lstrip("/")

    def remove(self) -> None:
        """Remove the parent once the runtime has removed the containers' cgroups (polling, no sleep)."""
        for child in sorted((p for p in self.path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            wait_for(lambda: _rmdir(child), 30, what=f"rmdir {child}")
        wait_for(lambda: _rmdir(self.path), 30, what=f"rmdir {self.path}")


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def limited(config: dict, cgroups_path: str, **resources) -> dict:
    """config with linux.cgroupsPath and linux.resources entries (memory, cpu, pids as OCI dicts)."""
    config["linux"]["cgroupsPath"] = cgroups_path
    config["linux"].setdefault("resources", {}).update(resources)
    return config


def cpus() -> int:
    return os.cpu_count() or 1
