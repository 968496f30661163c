"""Tests of kernel layout discovery in extracted Debian package trees (classic and split 7.2 layouts)."""

import pytest

from harness.kernels.layout import LayoutError, discover


def touch(path, data=b"x"):
    """Create a file and its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_classic_layout_boot_vmlinuz_and_lib_modules(tmp_path):
    """Up to 6.12: boot/vmlinuz-V is the image and lib/modules/V (holding kernel/) the modules."""
    release = "6.1.0-50-cloud-amd64"
    image = touch(tmp_path / "boot" / f"vmlinuz-{release}")
    touch(tmp_path / "lib" / "modules" / release / "kernel" / "net" / "veth.ko")
    layout = discover(tmp_path)
    assert layout.release == release
    assert layout.vmlinuz == image
    assert layout.modules == tmp_path / "lib" / "modules" / release


def test_split_layout_usr_lib_modules(tmp_path):
    """From 7.2: usr/lib/modules/V/vmlinuz is the image and usr/lib/modules/V the modules."""
    release = "7.2.0-1-cloud-amd64"
    image = touch(tmp_path / "usr" / "lib" / "modules" / release / "vmlinuz")
    touch(tmp_path / "usr" / "lib" / "modules" / release / "kernel" / "fs" / "overlayfs" / "overlay.ko.xz")
    layout = discover(tmp_path)
    assert layout.release == release
    assert layout.vmlinuz == image
    assert layout.modules == tmp_path / "usr" / "lib" / "modules" / release


def test_kernel_without_modules_directory(tmp_path):
    """A tree with only the image has no modules directory (None), not an error."""
    touch(tmp_path / "boot" / "vmlinuz-6.12.1")
    layout = discover(tmp_path)
    assert layout.release == "6.12.1"
    assert layout.modules is None


def test_same_release_in_both_layouts_is_one_kernel(tmp_path):
    """The same release found in boot/ and usr/lib/modules is not a conflict."""
    touch(tmp_path / "boot" / "vmlinuz-7.2")
    touch(tmp_path / "usr" / "lib" / "modules" / "7.2" / "vmlinuz")
    assert discover(tmp_path).release == "7.2"


def test_no_kernel_is_an_error(tmp_path):
    """A tree with modules but no image is a LayoutError naming the tree."""
    touch(tmp_path / "lib" / "modules" / "6.1" / "kernel" / "veth.ko")
    with pytest.raises(LayoutError, match="no boot/vmlinuz") as err:
        discover(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_two_releases_is_an_error(tmp_path):
    """Two different releases in one spec's packages is a LayoutError listing both."""
    touch(tmp_path / "boot" / "vmlinuz-6.1.0-1")
    touch(tmp_path / "usr" / "lib" / "modules" / "7.2.0-1" / "vmlinuz")
    with pytest.raises(LayoutError, match="several kernel releases") as err:
        discover(tmp_path)
    assert "6.1.0-1" in str(err.value) and "7.2.0-1" in str(err.value)
