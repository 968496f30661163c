"""Tests of the kernel cache: its location, sha256 verification, cache hits, and local bzImage kernels."""

import hashlib
import json
import struct
from pathlib import Path

import pytest

from harness.kernels import cache
from harness.kernels.apt import FetchError
from harness.kernels.bzimage import NotAKernel
from harness.kernels.spec import KernelSpec, PackageRef


def spec_with(sha: str = "b" * 64) -> KernelSpec:
    """A one-package kernel spec."""
    return KernelSpec("6.1", "6.1.0-50-cloud-amd64", (PackageRef("linux-image-x", "6.1.1-1", sha),))


def test_cache_root_honours_kharness_cache(monkeypatch, tmp_path):
    """$KHARNESS_CACHE is the cache root as given."""
    monkeypatch.setenv("KHARNESS_CACHE", str(tmp_path / "kc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "kc"


def test_cache_root_under_xdg_cache_home(monkeypatch, tmp_path):
    """Without $KHARNESS_CACHE the root is $XDG_CACHE_HOME/kernel-harness."""
    monkeypatch.delenv("KHARNESS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "kernel-harness"


def test_cache_root_defaults_to_home_cache(monkeypatch, tmp_path):
    """With neither variable set (or empty) the root is ~/.cache/kernel-harness."""
    monkeypatch.setenv("KHARNESS_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_root() == tmp_path / ".cache" / "kernel-harness"


def test_sha256_of_matches_hashlib(tmp_path):
    """sha256_of streams the file to the same digest hashlib gives."""
    data = b"deb" * 500_000
    (tmp_path / "x.deb").write_bytes(data)
    assert cache.sha256_of(tmp_path / "x.deb") == hashlib.sha256(data).hexdigest()


def test_verify_accepts_matching_digest(tmp_path):
    """A .deb with the pinned digest is kept."""
    deb = tmp_path / "x.deb"
    deb.write_bytes(b"good")
    cache.verify(deb, PackageRef("x", "1", hashlib.sha256(b"good").hexdigest()))
    assert deb.is_file()


def test_verify_deletes_mismatching_deb_and_names_both_digests(tmp_path):
    """A .deb with another digest is deleted and FetchError names the actual and the pinned digest."""
    deb = tmp_path / "x_1_amd64.deb"
    deb.write_bytes(b"tampered")
    pinned = "c" * 64
    with pytest.raises(FetchError) as err:
        cache.verify(deb, PackageRef("x", "1", pinned))
    message = str(err.value)
    assert hashlib.sha256(b"tampered").hexdigest() in message
    assert pinned in message
    assert "x_1_amd64.deb" in message
    assert not deb.exists()


def test_cached_is_none_for_empty_cache(tmp_path):
    """An empty cache holds no kernel."""
    assert cache.cached(spec_with(), tmp_path) is None


def test_cached_uses_cache_root_from_environment(monkeypatch, tmp_path):
    """Without an explicit root, cached() looks under $KHARNESS_CACHE."""
    monkeypatch.setenv("KHARNESS_CACHE", str(tmp_path))
    spec = spec_with()
    assert cache.cached(spec) is None
    entry = tmp_path / "kernels" / spec.cache_key
    entry.mkdir(parents=True)
    (entry / "kernel.json").write_text(json.dumps({"release": spec.release, "vmlinuz": "boot/v", "modules": None}))
    assert cache.cached(spec).vmlinuz == entry / "boot" / "v"


def test_cached_returns_bootable_kernel_from_kernel_json(tmp_path):
    """A complete entry (kernel.json) gives the release, vmlinuz and modules paths inside the entry."""
    spec = spec_with()
    entry = tmp_path / "kernels" / spec.cache_key
    entry.mkdir(parents=True)
    (entry / "kernel.json").write_text(json.dumps({
        "release": spec.release,
        "vmlinuz": f"boot/vmlinuz-{spec.release}",
        "modules": f"lib/modules/{spec.release}",
    }))
    hit = cache.cached(spec, tmp_path)
    assert hit == cache.BootableKernel("6.1", spec.release, entry / "boot" / f"vmlinuz-{spec.release}",
                                       entry / "lib" / "modules" / spec.release)


def test_cached_without_modules(tmp_path):
    """A kernel.json with modules null gives modules None."""
    spec = spec_with()
    entry = tmp_path / "kernels" / spec.cache_key
    entry.mkdir(parents=True)
    (entry / "kernel.json").write_text(json.dumps({"release": "r", "vmlinuz": "boot/v", "modules": None}))
    assert cache.cached(spec, tmp_path).modules is None


def test_cached_ignores_staging_directory_without_kernel_json(tmp_path):
    """An entry without kernel.json (an interrupted extraction) is not a hit."""
    spec = spec_with()
    (tmp_path / "kernels" / spec.cache_key / "boot").mkdir(parents=True)
    assert cache.cached(spec, tmp_path) is None


def write_bzimage(path: Path, version: bytes) -> Path:
    """A minimal file with a bzImage setup header whose version string is `version`."""
    head = bytearray(0x4000)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x20E, 0x1000)
    head[0x1200:0x1200 + len(version)] = version
    path.write_bytes(bytes(head))
    return path


def test_local_missing_path_is_an_error(tmp_path):
    """A --kernel path that does not exist raises NotAKernel naming it."""
    with pytest.raises(NotAKernel, match="no such file") as err:
        cache.local(tmp_path / "bzImage", None)
    assert str(tmp_path / "bzImage") in str(err.value)


def test_local_bzimage_is_named_by_its_release(tmp_path):
    """A file called bzImage is named by its release; other files keep their name."""
    image = write_bzimage(tmp_path / "bzImage", b"6.14.0-dev (me@host) #3")
    kernel = cache.local(image, None)
    assert kernel == cache.BootableKernel("6.14.0-dev", "6.14.0-dev", image.resolve(), None)
    renamed = write_bzimage(tmp_path / "vmlinuz-test", b"6.14.0-dev #3")
    assert cache.local(renamed, tmp_path).name == "vmlinuz-test"


def test_local_with_missing_modules_directory(tmp_path):
    """--modules must be a directory."""
    image = write_bzimage(tmp_path / "bzImage", b"6.14.0 #1")
    with pytest.raises(NotAKernel, match="--modules"):
        cache.local(image, tmp_path / "no-modules")
