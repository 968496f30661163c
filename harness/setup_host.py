"""Check (and on a Debian host as root, install) the system packages the harness needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# command or file -> Debian package that provides it
REQUIREMENTS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "/bin/busybox": "busybox-static",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "ldd": "libc-bin",
    # The reference runtimes the conformance suites and benchmarks compare with: without them those tests
    # could only skip, and a default run would be green without having compared anything.
    "runc": "runc",
    "crun": "crun",
}


def missing() -> dict[str, str]:
    """The requirements not present on this host, with the package that provides each."""
    absent = {}
    for what, package in REQUIREMENTS.items():
        present = Path(what).is_file() if what.startswith("/") else shutil.which(what)
        if not present:
            absent[what] = package
    return absent


def ensure(install: bool, log=print) -> int:
    """Report what is missing; install it with apt-get when asked and possible. Returns an exit status."""
    absent = missing()
    if not absent:
        log(f"[setup] {', '.join(Path(what).name for what in REQUIREMENTS)}: all present")
        return 0
    packages = sorted(set(absent.values()))
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        log(f"[setup] missing: {', '.join(absent)}; install them with: "
            f"sudo apt-get update && sudo {' '.join(command)}")
        return 1
    log(f"[setup] installing {' '.join(packages)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(command, check=True, env=env)
    still = missing()
    if still:
        log(f"[setup] still missing after apt-get: {', '.join(still)}")
        return 1
    return 0
