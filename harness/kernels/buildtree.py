"""A kernel build tree as `--kernel DIR`: its bzImage and release, its .config checked, its modules staged."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import bzimage, kconfig
from . import modules as kmod
from .cache import BootableKernel, cache_root

# A kernel build tree (the source tree, or the O= directory of an out-of-tree build): what the harness reads.
TREE_IMAGE = Path("arch/x86/boot/bzImage")
TREE_RELEASE = Path("include/config/kernel.release")


def tree_modules(tree: Path) -> dict[str, Path] | None:
    """The modules a build tree has built: name -> .ko file, from its modules.order (None without one).

    modules.order lists `drivers/net/veth.ko` (5.10-6.1), `drivers/net/veth.o` (6.2 on), or with a `kernel/`
    prefix (older trees); an entry whose .ko is not there (a stale list) is left out.
    """
    order = tree / "modules.order"
    if not order.is_file():
        return None
    found: dict[str, Path] = {}
    for line in order.read_text(errors="replace").splitlines():
        entry = line.strip().removeprefix("kernel/")
        if not entry:
            continue
        entry = entry[:-2] + ".ko" if entry.endswith(".o") else entry
        if (tree / entry).is_file():
            found[kmod.module_name(entry)] = tree / entry
    return found


def is_build_tree(directory: Path) -> bool:
    """A configured kernel build tree (or O= directory) has a .config; a lib/modules/V directory has none."""
    return (directory / ".config").is_file()


def module_names(directory: Path) -> set[str]:
    """The modules a directory offers: a build tree's built ones (modules.order), else a lib/modules/V's files
    and modules.builtin."""
    if is_build_tree(directory):
        return set(tree_modules(directory) or ())
    return set(kmod.index(directory)) | kmod.builtin(directory)


def stage_tree_modules(tree: Path, release: str, files: dict[str, Path], built_in: set[str],
                       root: Path | None = None) -> Path:
    """A lib/modules/<release> directory the image builder can pack, made of links to the tree's modules.

    It is keyed by the modules' sizes and times, so a rebuilt module gets a new directory, and with it a new
    modules archive (the image cache keys that archive by the directory's path). Older stagings of the same
    tree, unused for an hour, are removed.
    """
    base = (root or cache_root()) / "build-trees"
    tree_key = hashlib.sha256(str(tree.resolve()).encode()).hexdigest()[:12]
    digest = hashlib.sha256(release.encode())
    for name in sorted(files):
        st = files[name].stat()
        digest.update(f"\0{name}\0{files[name]}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    digest.update(("\0builtin\0" + ",".join(sorted(built_in))).encode())
    entry = base / f"{tree_key}-{digest.hexdigest()[:16]}"
    if not entry.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=base))
        try:
            target = staging / "lib" / "modules" / release
            for name, path in sorted(files.items()):
                link = target / "kernel" / path.relative_to(tree)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(path.resolve())
            target.mkdir(parents=True, exist_ok=True)
            (target / "modules.order").write_text(
                "".join(f"kernel/{files[name].relative_to(tree)}\n" for name in sorted(files)))
            (target / "modules.builtin").write_text("".join(f"kernel/{name}.ko\n" for name in sorted(built_in)))
            staging.rename(entry)
        except OSError:
            if not entry.is_dir():  # a concurrent run staging the same modules wins the rename
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    os.utime(entry)
    now = time.time()
    for old in base.glob(f"{tree_key}-*"):
        try:
            idle = now - old.stat().st_mtime
        except FileNotFoundError:
            continue  # pruned by a concurrent run
        if old != entry and idle > 3600:
            shutil.rmtree(old, ignore_errors=True)
    return entry / "lib" / "modules" / release


def tree_release(tree: Path, image: Path) -> str:
    """The release of a build tree's bzImage; its include/config/kernel.release must agree (else the image is
    older than the tree's configuration)."""
    release = bzimage.release_of(image)
    recorded = tree / TREE_RELEASE
    if recorded.is_file():
        expected = recorded.read_text().strip()
        if expected and expected != release:
            raise bzimage.NotAKernel(
                f"{image} holds release {release}, but {recorded} says {expected}: the bzImage is older than the "
                f"tree's configuration; rebuild it (`make -C {tree} -j$(nproc) bzImage modules`)")
    return release


def _tree_module_files(tree: Path, config: dict[str, str]) -> dict[str, Path] | None:
    """The tree's built modules when an option of a module the guest loads is =m (None when none is: nothing to
    pack); refuses a tree that has built no module at all then."""
    modular = [name for name in kconfig.MODULE_OF if config.get(name) == "m"]
    if not modular:
        return None
    files = tree_modules(tree)
    if files is None:
        raise bzimage.NotAKernel(
            f"{tree}: {', '.join(f'{name}=m' for name in modular)} in .config, but the tree has no modules built "
            f"(no modules.order): run `make -C {tree} -j$(nproc) modules`, or build them in (=y, see "
            f"vm-images/kharness.config)")
    return files


def _check_vermagic(tree: Path, files: dict[str, Path], release: str) -> None:
    """Refuse the guest's modules when built for another release than the bzImage's (left over from an earlier
    build): the guest's init_module would fail with ENOEXEC."""
    for name in sorted(set(files) & set(kconfig.MODULE_OF.values())):
        try:
            info = kmod.modinfo(kmod.read_module(files[name]), str(files[name]))
        except (OSError, kmod.ModuleError) as exc:
            raise bzimage.NotAKernel(f"{files[name]}: not a readable module ({exc})") from None
        built_for = info.get("vermagic", [""])[0].split(" ", 1)[0]
        if built_for and built_for != release:
            raise bzimage.NotAKernel(f"{files[name]} was built for {built_for}, the bzImage is {release}: rebuild "
                                     f"the modules (`make -C {tree} -j$(nproc) modules`)")


def _fatal(finding: kconfig.Finding) -> bool:
    """A finding that stops a build tree before it boots: a boot option, or a module the suites need that is
    =m but not built (the image could not be made)."""
    req = finding.requirement
    return req.kind == "boot" or (req.module is not None and req.module not in kconfig.OPTIONAL_MODULES
                                  and finding.actual == "m")


def tree_kernel(tree: Path, modules: Path | None = None, log=print) -> BootableKernel:
    """A kernel build tree as a bootable kernel: its bzImage, its release, and its modules (staged from the
    tree unless --modules names a directory), after checking its .config against vm-images/kharness.config.

    A tree that lacks an option the guest needs to boot, or builds a module the guest loads without having
    built it, is refused (the guest would hang until its deadline, or the image could not be made); other
    missing options are warnings, since the developer may be testing a kernel without them on purpose.
    """
    if not is_build_tree(tree):
        raise bzimage.NotAKernel(f"{tree}: a directory without .config: --kernel takes a matrix name, a bzImage "
                                 "path, or a configured and built kernel tree (for `make O=DIR`, give DIR)")
    image = tree / TREE_IMAGE
    if not image.is_file():
        raise bzimage.NotAKernel(f"{tree}: no {TREE_IMAGE} in this build tree: build it with "
                                 f"`make -C {tree} -j$(nproc) bzImage`")
    release = tree_release(tree, image)
    try:
        config = kconfig.read_config(tree)
        requirements = kconfig.load_fragment()
    except kconfig.KconfigError as exc:
        raise bzimage.NotAKernel(str(exc)) from None
    files = None
    if modules is not None:
        if not modules.is_dir():
            raise bzimage.NotAKernel(f"--modules {modules}: not a directory (give lib/modules/<release>)")
        available = module_names(modules)
    else:
        files = _tree_module_files(tree, config)
        available = set(files or ())
    findings = [f for f in kconfig.check(config, requirements, available) if f.verdict != "ok"]
    fatal = [f for f in findings if _fatal(f)]
    if fatal:
        raise bzimage.NotAKernel(
            f"{tree}: the guests cannot run this kernel:\n" + "\n".join(f"  {f.line()}" for f in fatal)
            + f"\nsee `python -m harness kconfig --check {tree}`; to boot it anyway, give the image itself: "
              f"--kernel {image}")
    if findings:
        log(f"[{release}] warning: {tree}/.config lacks {len(findings)} option(s) of vm-images/kharness.config; "
            "the tests that need them will fail or skip:")
        for finding in findings:
            log(f"[{release}]   {finding.line()}")
    if files:
        _check_vermagic(tree, files, release)
        built_in = kmod.builtin(tree) | {module for name, module in kconfig.MODULE_OF.items()
                                         if config.get(name) == "y"}
        modules = stage_tree_modules(tree, release, files, built_in)
    return BootableKernel(name=release, release=release, vmlinuz=image.resolve(), modules=modules)
