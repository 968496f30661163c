"""Assemble the guest initramfs (base image + per-kernel modules), cached by content hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..kernels import modules as kmod
from ..kernels.cache import BootableKernel, cache_root
from ..request import MODULES_DIR
from . import bytecode, elf, hypothesis_cache, python_tree, rewrite
from .cpio import CpioWriter
from .tree import ImageTree

# Bump when the layout of the image changes, so cached images are rebuilt.
IMAGE_FORMAT = 3

# Modules the suites need that are not built into Debian's cloud kernels.
GUEST_MODULES = ("veth", "bridge", "overlay")
# The scratch disk's driver (see scratch_disk in vm-images/qemu-x86_64.toml): modules in Debian's cloud kernels
# (virtio_pci built in from 6.12). Packed where the kernel has them; a kernel without is tested without a disk,
# and the io.max tests skip there, saying so.
OPTIONAL_GUEST_MODULES = ("virtio_pci", "virtio_blk")

INIT_SCRIPT = """#!/bin/sh
# Hand over to the Python init at once; it does the mounts itself.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 PYTHONPATH={project}
cd {project}
exec {python} -B -m harness.guest.init
"""


TEXT_SUFFIXES = {".py", ".pyi", ".txt", ".json", ".toml", ".cfg", ".md", ".rst", ".typed", ".html"}


class ImageError(RuntimeError):
    """The initramfs cannot be built; the message names the missing piece."""


@dataclass(frozen=True)
class Image:
    """A bootable initramfs file and how it was obtained."""

    path: Path
    size: int
    built: bool
    seconds: float


def find_busybox() -> Path:
    """A busybox binary, preferably static (Debian's busybox-static installs /bin/busybox)."""
    for candidate in (os.environ.get("KHARNESS_BUSYBOX"), "/bin/busybox", shutil.which("busybox")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ImageError("busybox not found: install it (`apt-get install busybox-static`) or set KHARNESS_BUSYBOX")


# Other OCI runtimes packed when the host has them, so suites and benchmarks can compare (--runtime).
OTHER_RUNTIMES = ("runc", "crun")


def other_runtimes() -> list[Path]:
    """The host's runc and crun binaries, those that are installed (CI installs both)."""
    found = []
    for name in OTHER_RUNTIMES:
        path = shutil.which(name)
        if path:
            found.append(Path(path))
    return found


def _stat_digest(paths: list[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(set(paths)):
        st = path.lstat()
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:20]


def _content_digest(paths: list[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(set(paths)):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def base_sources() -> dict[str, list[Path]]:
    """The host files of the base image, grouped by origin."""
    return {
        "interpreter": python_tree.interpreter(),
        "stdlib": python_tree.stdlib_files(),
        "distributions": python_tree.distribution_files(),
        "venv": python_tree.venv_files(),
        "project": python_tree.project_files(),
        "busybox": [find_busybox()],
        "runtimes": other_runtimes(),
    }


def _add_system_files(tree: ImageTree, busybox: Path, python: Path) -> None:
    # Mirror the host's merged-/usr links (/bin -> usr/bin ...) so host paths resolve the same way.
    for top in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{top}") and top not in tree.nodes:
            tree.symlink(top, os.readlink(f"/{top}"))
    for d in ("proc", "sys", "dev", "run", "tmp", "root", "mnt", "etc", "var/tmp"):
        tree.mkdir(d, 0o1777 if d.endswith("tmp") else 0o755)
    tree.char_device("dev/console", 5, 1)
    tree.char_device("dev/null", 1, 3, 0o666)
    tree.add_bytes("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    tree.add_bytes("etc/group", b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    tree.add_bytes("etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n")
    tree.add_bytes("etc/hostname", b"kharness\n")
    # The project's busybox at a fixed path, with every applet as a link, as the guest's tools.
    tree.add_bytes("usr/bin/busybox", busybox.read_bytes(), 0o755)
    listing = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        resolved = tree.resolve_dir(os.path.dirname(applet)) + "/" + os.path.basename(applet)
        if resolved.lstrip("/") not in tree.nodes:
            tree.symlink(applet, "/usr/bin/busybox")
    project = python_tree.PROJECT_ROOT
    tree.add_bytes("init", INIT_SCRIPT.format(project=project, python=python).encode(), 0o755)


def _pack(tree: ImageTree, out: Path) -> int:
    """Compile bytecode for every packed source, then write the tree as a cpio archive."""
    py_sources = {}
    for name, node in tree.nodes.items():
        if node.kind == "file" and name.endswith(".py") and node.source is not None:
            py_sources["/" + name] = node.source.read_bytes()
    # Bytecode for every packed source, so the guest never compiles (20x slower under TCG).
    for pyc_path, data in bytecode.compile_all(py_sources).items():
        tree.add_bytes(pyc_path, data)
    with out.open("wb") as f:
        writer = CpioWriter(f)
        tree.write(writer)
        writer.close()
    return writer.size


def _write_base(sources: dict[str, list[Path]], out: Path) -> int:
    tree = ImageTree()
    packed: list[Path] = []
    for group, paths in sources.items():
        if group == "busybox":
            continue
        for path in paths:
            tree.add_host(path)
            packed.append(path)
    _add_system_files(tree, sources["busybox"][0], Path(sys.executable))
    # Every ELF file packed (interpreter, extension modules, bundled .so files) brings its libraries.
    elves = [p for p in packed if p.suffix not in TEXT_SUFFIXES and not p.is_symlink() and elf.is_elf(p)]
    for lib in sorted(elf.library_closure(elves)):
        tree.add_host(lib)
    # hypothesis's Unicode and codec tables: computing them in a guest took most of a from_regex test.
    for path, data in hypothesis_cache.storage_files(unicode=True).items():
        tree.add_bytes(path.lstrip("/"), data)
    return _pack(tree, out)


def _write_project(project: list[Path], out: Path) -> int:
    tree = ImageTree()
    for path in project:
        tree.add_host(path)
    # pytest's rewritten asserts, so the guest does not rewrite every test module before its first test.
    sources = {os.path.abspath(p): Path(p).read_bytes() for p in project if str(p).endswith(".py")}
    for pyc_path, data in rewrite.pytest_pycs(sources, str(python_tree.PROJECT_ROOT)).items():
        tree.add_bytes(pyc_path, data)
    # hypothesis's constants of each project module, which it otherwise parses in every guest.
    for path, data in hypothesis_cache.storage_files(modules=sorted(sources)).items():
        tree.add_bytes(path.lstrip("/"), data)
    return _pack(tree, out)


def _write_modules(kernel: BootableKernel, out: Path) -> list[str]:
    tree = ImageTree()
    names: list[str] = []
    if kernel.modules is not None:
        files, built_in = kmod.index(kernel.modules), kmod.builtin(kernel.modules)
        resolved = kmod.resolve(list(GUEST_MODULES), files, built_in)
        for optional in OPTIONAL_GUEST_MODULES:
            try:
                extra = kmod.resolve([optional], files, built_in)
            except kmod.ModuleError:
                continue  # absent from this kernel: no disk driver, the guest runs without a block device
            resolved += [m for m in extra if m.name not in {r.name for r in resolved}]
        order = []
        for module in resolved:
            tree.add_bytes(f"{MODULES_DIR}/{module.name}.ko", module.data)
            order.append(module.name)
        tree.add_bytes(f"{MODULES_DIR}/order", ("\n".join(order) + "\n").encode())
        names = order
    with out.open("wb") as f:
        writer = CpioWriter(f)
        tree.write(writer)
        writer.close()
    return names


def _atomic_build(target: Path, build) -> object:
    """Run build(tmp_path) and rename into place, so a crash never leaves a truncated image."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        result = build(Path(tmp))
        os.replace(tmp, target)
        return result
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build_image(kernel: BootableKernel, root: Path | None = None, log=print) -> Image:
    """The initramfs for one kernel (see build_images)."""
    return build_images([kernel], root, log)[0]


def _built(part: Path, build, log) -> bool:
    """Build one cached archive unless it is there; True when it was built."""
    if part.is_file():
        return False
    kind = part.name.split("-", 1)[0]
    log(f"[image] building the {kind} archive {part.name}")
    t0 = time.monotonic()
    _atomic_build(part, build)
    log(f"[image] {part.name}: {part.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s")
    return True


def build_images(kernels: list[BootableKernel], root: Path | None = None, log=print) -> list[Image]:
    """The initramfs of each kernel: reuse the cached one when nothing it holds has changed.

    Each is three cpio archives concatenated (the kernel unpacks them in order, and QEMU takes one
    -initrd file): the base (interpreter, stdlib, distributions, busybox, libraries), the project,
    and the kernel's modules, each cached under its own key so an edit rebuilds only its part. The
    base and project are keyed and built once for all the kernels of a run.
    """
    started = time.monotonic()
    root = (root or cache_root()) / "images"
    sources = base_sources()
    project = sources.pop("project")
    # The builder's own code is part of every key: a change to how images are made rebuilds them.
    builder = _content_digest(sorted(Path(__file__).parent.glob("*.py")), str(IMAGE_FORMAT))
    base_key = _stat_digest([p for group in sources.values() for p in group], f"{builder}:{sys.executable}")
    project_key = _content_digest(project, f"{builder}:{python_tree.PROJECT_ROOT}")
    base, proj = root / f"base-{base_key}.cpio", root / f"project-{project_key}.cpio"
    shared_built = _built(base, lambda tmp: _write_base(sources, tmp), log)
    shared_built = _built(proj, lambda tmp: _write_project(project, tmp), log) or shared_built
    images, keep = [], {base, proj}
    for kernel in kernels:
        t0 = time.monotonic() if images else started
        mod_key = hashlib.sha256(
            f"{builder}:{kernel.vmlinuz}:{kernel.modules}:{GUEST_MODULES}:{OPTIONAL_GUEST_MODULES}".encode()).hexdigest()[:16]
        modules = root / f"modules-{kernel.release}-{mod_key}.cpio"
        built = _built(modules, lambda tmp, k=kernel: _write_modules(k, tmp), log) or shared_built
        combined = root / f"initrd-{base_key}-{project_key}-{mod_key}.cpio"
        if not combined.is_file():
            def concat(tmp: Path, parts=(base, proj, modules)) -> None:
                with tmp.open("wb") as out:
                    for part in parts:
                        with part.open("rb") as f:
                            shutil.copyfileobj(f, out, 1 << 20)
            _atomic_build(combined, concat)
            built = True
        for part in (base, proj, modules, combined):
            os.utime(part)  # mark as recently used, so a concurrent run's pruning spares it
        keep |= {modules, combined}
        seconds = time.monotonic() - t0
        size = combined.stat().st_size
        verb = "built" if built else "reused (nothing changed)"
        log(f"[image] {verb} {combined.name}: {size / 1e6:.1f} MB in {seconds:.1f} s")
        images.append(Image(combined, size, built, seconds))
    _prune_old(root, keep=keep)
    return images


def _prune_old(root: Path, keep: set[Path], newest: int = 6, idle_seconds: float = 3600) -> None:
    """Keep the image directory bounded: of each kind of archive, drop all but the newest few, and only
    those unused for an hour (another harness run on this machine may be about to boot one)."""
    now = time.time()
    for kind in ("initrd", "base", "project", "modules"):
        archives = sorted(root.glob(f"{kind}-*.cpio"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in archives[newest:]:
            try:
                idle = now - old.stat().st_mtime
            except FileNotFoundError:
                continue
            if old not in keep and idle > idle_seconds:
                old.unlink(missing_ok=True)
