"""Tests of --kernel given as a kernel build tree: bzImage and release, the .config check, staged modules."""

import os
import time

import pytest

from harness.image.build import GUEST_MODULES
from harness.kernels import buildtree, cache
from harness.kernels import modules as kmod
from harness.kernels.bzimage import NotAKernel
from harness.kernels.test_bzimage import fake_bzimage
from harness.kernels.test_kconfig import full_config
from harness.kernels.test_modules import elf_with_sections, module_elf

RELEASE = "6.13.0-rc3-dev"


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    """Staged modules go to a cache of the test's own."""
    monkeypatch.setenv("KHARNESS_CACHE", str(tmp_path / "cache"))


def make_tree(root, overrides=None, release=RELEASE, image_release=None, modules=None, order_style=".o"):
    """A synthetic build tree: .config (the fragment with `overrides`), arch/x86/boot/bzImage holding
    `image_release`, include/config/kernel.release, and `modules` {relative path: (name, deps)} built as .ko
    files listed in modules.order (as `.o` entries like 6.2+, or `.ko` like 5.10-6.1)."""
    tree = root / "linux"
    (tree / "arch" / "x86" / "boot").mkdir(parents=True)
    (tree / ".config").write_text(full_config(overrides))
    fake_bzimage(tree / "arch" / "x86" / "boot" / "bzImage",
                 f"{image_release or release} (dev@box) #1 SMP PREEMPT_DYNAMIC".encode())
    if release is not None:
        (tree / "include" / "config").mkdir(parents=True)
        (tree / "include" / "config" / "kernel.release").write_text(release + "\n")
    if modules is not None:
        entries = []
        for rel, (name, deps) in modules.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes(module_elf(name, deps))
            entries.append(rel[:-3] + ".o" if order_style == ".o" else rel)
        (tree / "modules.order").write_text("".join(f"{e}\n" for e in entries))
    return tree


def test_tree_with_everything_built_in_boots_without_modules(tmp_path):
    """A tree whose .config meets the fragment gives its bzImage, named by its release, with no modules and no
    warning."""
    tree = make_tree(tmp_path)
    logged = []
    kernel = cache.local(tree, None, log=logged.append)
    assert kernel == cache.BootableKernel(RELEASE, RELEASE, (tree / "arch/x86/boot/bzImage").resolve(), None)
    assert logged == []


def test_directory_without_dot_config_is_not_a_tree(tmp_path):
    """A directory with no .config is refused, saying what --kernel takes."""
    with pytest.raises(NotAKernel, match="without .config: --kernel takes a matrix name, a bzImage path"):
        cache.local(tmp_path, None)


def test_tree_without_bzimage_says_make_bzimage(tmp_path):
    """A configured tree that has not built arch/x86/boot/bzImage is refused, naming the path and the make target."""
    tree = make_tree(tmp_path)
    (tree / "arch/x86/boot/bzImage").unlink()
    with pytest.raises(NotAKernel) as err:
        cache.local(tree, None)
    assert "arch/x86/boot/bzImage" in str(err.value)
    assert f"make -C {tree} -j$(nproc) bzImage" in str(err.value)


def test_release_comes_from_the_image_when_the_tree_has_no_kernel_release(tmp_path):
    """Without include/config/kernel.release the bzImage header's release is used."""
    tree = make_tree(tmp_path, release=None, image_release="6.14.0")
    assert cache.local(tree, None).release == "6.14.0"


def test_stale_bzimage_is_refused(tmp_path):
    """A bzImage whose release differs from include/config/kernel.release is older than the tree's config:
    refused, naming both releases and the rebuild."""
    tree = make_tree(tmp_path, image_release="6.12.0-old")
    with pytest.raises(NotAKernel, match=r"holds release 6\.12\.0-old, but .*kernel\.release says 6\.13\.0-rc3-dev.*"
                                         r"make -C .* bzImage modules"):
        cache.local(tree, None)


def test_tree_lacking_a_boot_option_is_refused(tmp_path):
    """A tree without an option the guest needs to boot (the serial console, say) is refused before booting,
    naming the option and what needs it, and saying how to boot it anyway."""
    tree = make_tree(tmp_path, {"CONFIG_SERIAL_8250_CONSOLE": "n", "CONFIG_DEVTMPFS": None})
    with pytest.raises(NotAKernel) as err:
        cache.local(tree, None)
    message = str(err.value)
    assert "CONFIG_SERIAL_8250_CONSOLE is not set: needs =y [boot: the console on COM1" in message
    assert "CONFIG_DEVTMPFS is absent" in message
    assert f"python -m harness kconfig --check {tree}" in message
    assert f"--kernel {tree / 'arch/x86/boot/bzImage'}" in message


def test_tree_lacking_suite_options_boots_with_a_warning(tmp_path):
    """Options only suites need (user namespaces, IPv6 as a module) are warnings naming them; the kernel boots."""
    tree = make_tree(tmp_path, {"CONFIG_USER_NS": "n", "CONFIG_IPV6": "m"})
    logged = []
    kernel = cache.local(tree, None, log=logged.append)
    assert kernel.release == RELEASE
    assert "lacks 2 option(s)" in logged[0]
    assert any("CONFIG_USER_NS is not set: needs =y [suites: namespaces" in line for line in logged)
    assert any("CONFIG_IPV6=m: must be =y" in line for line in logged)


def test_modular_guest_modules_are_staged_from_the_tree(tmp_path):
    """veth and bridge as modules: the tree's built modules are staged as lib/modules/<release> (links to the
    tree's .ko files, modules.builtin naming overlay, which is =y), from which the image builder resolves them
    and their dependencies."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m", "CONFIG_BRIDGE": "m"}, modules={
        "drivers/net/veth.ko": ("veth", []),
        "net/bridge/bridge.ko": ("bridge", ["stp", "llc"]),
        "net/802/stp.ko": ("stp", ["llc"]),
        "net/llc/llc.ko": ("llc", []),
        "fs/ext4/ext4.ko": ("ext4", []),
    })
    kernel = cache.local(tree, None, log=pytest.fail)
    staged = kernel.modules
    assert staged.name == RELEASE and staged.parent.name == "modules"
    assert staged.is_relative_to(tmp_path / "cache" / "build-trees")
    assert (staged / "kernel/drivers/net/veth.ko").resolve() == (tree / "drivers/net/veth.ko").resolve()
    files, built_in = kmod.index(staged), kmod.builtin(staged)
    assert "overlay" in built_in
    order = [m.name for m in kmod.resolve(list(GUEST_MODULES), files, built_in)]
    assert order == ["veth", "llc", "stp", "bridge"]


def test_modules_order_of_5_10_style_is_read(tmp_path):
    """modules.order entries ending in .ko (5.10-6.1), or prefixed kernel/ (older), name the same files."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"}, modules={"drivers/net/veth.ko": ("veth", [])}, order_style=".ko")
    assert set(buildtree.tree_modules(tree)) == {"veth"}
    (tree / "modules.order").write_text("kernel/drivers/net/veth.ko\nkernel/drivers/gone/stale.ko\n")
    assert buildtree.tree_modules(tree) == {"veth": tree / "drivers/net/veth.ko"}


def test_modular_guest_module_without_built_modules_says_make_modules(tmp_path):
    """veth =m in a tree that has built no module (no modules.order) is refused, saying `make modules` or =y."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"})
    with pytest.raises(NotAKernel, match=r"CONFIG_VETH=m in .config, but the tree has no modules built.*"
                                         r"make -C .* modules"):
        cache.local(tree, None)


def test_modular_guest_module_not_built_is_refused(tmp_path):
    """veth =m, other modules built but not veth: refused (the image could not be made), naming CONFIG_VETH."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"}, modules={"fs/ext4/ext4.ko": ("ext4", [])})
    with pytest.raises(NotAKernel, match=r"CONFIG_VETH=m: module veth is not among the modules given"):
        cache.local(tree, None)


def test_scratch_disk_module_not_built_is_a_warning(tmp_path):
    """virtio_blk =m but not built only costs the scratch disk: a warning, and the other modules are staged."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m", "CONFIG_VIRTIO_BLK": "m"},
                     modules={"drivers/net/veth.ko": ("veth", [])})
    logged = []
    kernel = cache.local(tree, None, log=logged.append)
    assert any("CONFIG_VIRTIO_BLK=m: module virtio_blk is not among" in line for line in logged)
    assert set(kmod.index(kernel.modules)) == {"veth"}


def test_explicit_modules_directory_is_used_as_given(tmp_path):
    """--modules DIR with a tree: DIR is packed as given (nothing staged) and the check looks for modules there."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"})
    modules = tmp_path / "install" / "lib" / "modules" / RELEASE
    (modules / "kernel" / "drivers" / "net").mkdir(parents=True)
    (modules / "kernel" / "drivers" / "net" / "veth.ko").write_bytes(module_elf("veth"))
    assert cache.local(tree, modules, log=pytest.fail).modules == modules
    assert not (tmp_path / "cache" / "build-trees").exists()
    with pytest.raises(NotAKernel, match="--modules .*: not a directory"):
        cache.local(tree, tmp_path / "nowhere")


def test_staging_follows_rebuilt_modules_and_prunes_idle_ones(tmp_path):
    """The staged directory is reused while the modules are unchanged; a rebuilt module gets a new one (so a new
    modules archive), and stagings of the same tree idle for over an hour are removed."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"}, modules={"drivers/net/veth.ko": ("veth", [])})
    first = cache.local(tree, None).modules
    assert cache.local(tree, None).modules == first
    entry = first.parents[2]
    hour_ago = time.time() - 7200
    os.utime(entry, (hour_ago, hour_ago))
    (tree / "drivers/net/veth.ko").write_bytes(module_elf("veth") + b"\0")
    second = cache.local(tree, None).modules
    assert second != first
    assert not entry.exists()


def test_modules_built_for_another_release_are_refused(tmp_path):
    """A guest module whose vermagic names another release (left from an earlier build) is refused before
    booting, naming the file, both releases and `make modules`."""
    tree = make_tree(tmp_path, {"CONFIG_VETH": "m"}, modules={"drivers/net/veth.ko": ("veth", [])})
    (tree / "drivers/net/veth.ko").write_bytes(
        module_elf_with(b"vermagic=6.12.0-old SMP preempt mod_unload \0name=veth\0"))
    with pytest.raises(NotAKernel, match=r"veth\.ko was built for 6\.12\.0-old, the bzImage is 6\.13\.0-rc3-dev.*"
                                         r"make -C .* modules"):
        cache.local(tree, None)
    (tree / "drivers/net/veth.ko").write_bytes(module_elf_with(f"vermagic={RELEASE} SMP mod_unload \0".encode()))
    assert cache.local(tree, None).modules is not None


def module_elf_with(modinfo: bytes) -> bytes:
    """A synthetic module with the given .modinfo bytes."""
    return elf_with_sections([(".text", b"\x90"), (".modinfo", modinfo)])
