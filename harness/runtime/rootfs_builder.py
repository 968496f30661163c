"""Build a busybox root filesystem and an OCI bundle around it, for tests and benchmarks."""

import os
import shutil
import subprocess

from .default_spec import write_default_config
from .errors import ContainerError

BUSYBOX_ENV = "KHARNESS_BUSYBOX"
DEFAULT_BUSYBOX = "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
# Mount points and scratch directories every container of the default config needs.
EMPTY_DIRECTORIES = ("proc", "sys", "dev", "tmp", "root", "etc")


def busybox_path() -> str:
    """The busybox binary to copy: $KHARNESS_BUSYBOX, else /bin/busybox. It must be static (the rootfs has no
    shared libraries)."""
    return os.environ.get(BUSYBOX_ENV) or DEFAULT_BUSYBOX


def build_rootfs(rootfs: str, busybox: str | None = None) -> str:
    """Fill `rootfs` (created if missing) with busybox, its applet links, /etc/passwd and /etc/group."""
    busybox = busybox or busybox_path()
    if not os.path.isfile(busybox):
        raise ContainerError(f"busybox not found at {busybox} (set ${BUSYBOX_ENV} to a static busybox)")
    for directory in ("bin", *EMPTY_DIRECTORIES):
        os.makedirs(os.path.join(rootfs, directory), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
    for applet in _applets(busybox):
        link = os.path.join(rootfs, applet)
        if applet == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        # Absolute target: resolved in the container's root, it works from bin/, sbin/ and usr/bin/ alike.
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(rootfs, "etc", name), "w", encoding="utf-8") as etc_file:
            etc_file.write(text)
    return rootfs


def build_bundle(bundle: str, args: list[str] | None = None, busybox: str | None = None) -> str:
    """Make `bundle` with rootfs/ (busybox) and the default config.json, `args` as its process.args.

    Directories are world-searchable (0755) so that a container whose user namespace maps root to an
    unprivileged host uid can still reach its rootfs before pivot_root.
    """
    os.makedirs(bundle, exist_ok=True)
    os.chmod(bundle, 0o755)
    build_rootfs(os.path.join(bundle, "rootfs"), busybox)
    write_default_config(bundle, args)
    return bundle


def _applets(busybox: str) -> list[str]:
    """Install paths of every applet ("bin/sh", "usr/bin/env", ...), from `busybox --list-full`."""
    try:
        listing = subprocess.run([busybox, "--list-full"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ContainerError(f"{busybox} --list-full failed: {error}") from error
    return [line.strip().lstrip("/") for line in listing.splitlines() if line.strip()]
