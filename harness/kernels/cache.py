"""The kernel cache: fetch, verify and extract a kernel once, then reuse vmlinuz and modules."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import apt, bzimage
from .layout import discover
from .spec import KernelSpec, PackageRef, toml_path


def cache_root() -> Path:
    """$KHARNESS_CACHE, else $XDG_CACHE_HOME/kernel-harness, else ~/.cache/kernel-harness."""
    if os.environ.get("KHARNESS_CACHE"):
        return Path(os.environ["KHARNESS_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "kernel-harness"


@dataclass(frozen=True)
class BootableKernel:
    """What a guest boots: a kernel image, its release, and its modules directory if any."""

    name: str
    release: str
    vmlinuz: Path
    modules: Path | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(deb: Path, pkg: PackageRef) -> None:
    """Refuse a .deb whose sha256 differs from the pinned one, and delete it."""
    actual = sha256_of(deb)
    if actual != pkg.sha256:
        deb.unlink(missing_ok=True)
        raise apt.FetchError(
            f"{deb.name}: sha256 {actual} does not match the pinned {pkg.sha256} "
            "(corrupt download, or the mirror serves a different build); the file was deleted, "
            "run again to download it anew"
        )


def cached(spec: KernelSpec, root: Path | None = None) -> BootableKernel | None:
    """The extracted kernel if the cache holds it complete, else None."""
    entry = (root or cache_root()) / "kernels" / spec.cache_key
    meta = entry / "kernel.json"
    if not meta.is_file():
        return None
    info = json.loads(meta.read_text())
    modules = entry / info["modules"] if info.get("modules") else None
    return BootableKernel(spec.name, info["release"], entry / info["vmlinuz"], modules)


def fetch(spec: KernelSpec, root: Path | None = None, log=print, matrix: Path | None = None) -> BootableKernel:
    """Download, verify and extract a kernel of the matrix, unless the cache already has it."""
    root = root or cache_root()
    hit = cached(spec, root)
    if hit:
        return hit
    entry = root / "kernels" / spec.cache_key
    debs_dir = root / "debs"
    debs_dir.mkdir(parents=True, exist_ok=True)
    debs = []
    for pkg in spec.packages:
        deb = debs_dir / pkg.deb_name
        if not deb.is_file():
            log(f"[{spec.name}] downloading {pkg.name}={pkg.version}")
            deb = apt.download(pkg, debs_dir, spec.suite, root / "apt-state", kernel=spec.name, matrix=matrix)
        verify(deb, pkg)
        debs.append(deb)
    # Extract into a temporary sibling and rename, so an interrupted run never leaves half a kernel.
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.cache_key}.", dir=entry.parent))
    try:
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True, capture_output=True)
        layout = discover(staging)
        if layout.release != spec.release:
            raise apt.FetchError(
                f"{toml_path(spec.name)}.release: the packages hold release {layout.release}, "
                f"kernels.toml says {spec.release}"
            )
        meta = {
            "release": layout.release,
            "vmlinuz": str(layout.vmlinuz.relative_to(staging)),
            "modules": str(layout.modules.relative_to(staging)) if layout.modules else None,
        }
        (staging / "kernel.json").write_text(json.dumps(meta, indent=1))
        staging.rename(entry)
    except subprocess.CalledProcessError as exc:
        raise apt.FetchError(f"dpkg-deb -x failed: {exc.stderr.decode(errors='replace').strip()}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log(f"[{spec.name}] extracted {spec.release} into {entry}")
    hit = cached(spec, root)
    assert hit is not None
    return hit


def local(path: Path, modules: Path | None, log=print) -> BootableKernel:
    """A kernel given as a bzImage path, or as a kernel build tree, with an optional lib/modules/V directory."""
    if path.is_dir():
        from .buildtree import tree_kernel
        return tree_kernel(path, modules, log=log)
    if not path.is_file():
        raise bzimage.NotAKernel(f"{path}: no such file (--kernel takes a matrix name, a bzImage path or a "
                                 "kernel build tree)")
    release = bzimage.release_of(path)
    if modules is not None and not modules.is_dir():
        raise bzimage.NotAKernel(f"--modules {modules}: not a directory (give lib/modules/<release>)")
    return BootableKernel(name=path.name if path.name != "bzImage" else release, release=release,
                          vmlinuz=path.resolve(), modules=modules)
