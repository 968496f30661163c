"""The run's initramfs images: the base and project archives are built once for every kernel, then reused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.image import build
from harness.kernels.cache import BootableKernel

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


@pytest.fixture
def small_sources(tmp_path, monkeypatch):
    """A tiny base (one text file and busybox) and a one-module project instead of the real interpreter tree."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.txt").write_text("base\n")
    (tmp_path / "src" / "mod.py").write_text("X = 1\n")
    if not Path(BUSYBOX).is_file():
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    calls = []

    def sources():
        calls.append(1)
        return {"interpreter": [tmp_path / "src" / "data.txt"], "stdlib": [], "distributions": [], "venv": [],
                "project": [tmp_path / "src" / "mod.py"], "busybox": [Path(BUSYBOX)], "runtimes": []}
    monkeypatch.setattr(build, "base_sources", sources)
    return tmp_path, calls


def kernel(tmp_path: Path, name: str) -> BootableKernel:
    """A kernel without modules (nothing is read from vmlinuz to build its image)."""
    return BootableKernel(name, f"{name}.0-test", tmp_path / f"vmlinuz-{name}", None)


def test_three_kernels_share_one_base_and_one_project_build(small_sources):
    """Three kernels: the sources are gathered and keyed once, the base and project archives built once,
    a modules archive and an initrd each; a second run builds nothing and reuses the same files."""
    tmp_path, calls = small_sources
    lines: list[str] = []
    kernels = [kernel(tmp_path, n) for n in ("5.10", "6.1", "6.12")]
    images = build.build_images(kernels, root=tmp_path / "cache", log=lines.append)
    assert len(calls) == 1
    building = [line for line in lines if line.startswith("[image] building the")]
    assert sum("base archive" in line for line in building) == 1
    assert sum("project archive" in line for line in building) == 1
    assert sum("modules archive" in line for line in building) == 3
    assert len({image.path for image in images}) == 3 and all(image.built for image in images)
    lines.clear()
    again = build.build_images(kernels, root=tmp_path / "cache", log=lines.append)
    assert [image.path for image in again] == [image.path for image in images]
    assert not any(image.built for image in again) and not any("building" in line for line in lines)
