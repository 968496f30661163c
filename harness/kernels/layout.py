"""Find vmlinuz and the modules directory in an extracted Debian kernel package tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class LayoutError(RuntimeError):
    """The extracted packages hold no kernel image, or several."""


@dataclass(frozen=True)
class KernelLayout:
    """Where the kernel image and the modules of one release are inside an extracted tree."""

    release: str
    vmlinuz: Path
    modules: Path | None


def discover(root: Path) -> KernelLayout:
    """Find the kernel in either Debian layout.

    Up to 6.12 `linux-image-*` holds boot/vmlinuz-V and lib/modules/V; from 7.2 `linux-binary-V`
    holds usr/lib/modules/V/vmlinuz and `linux-modules-V` the modules beside it.
    """
    candidates: list[tuple[str, Path]] = []
    for image in sorted(root.glob("boot/vmlinuz-*")):
        candidates.append((image.name.removeprefix("vmlinuz-"), image))
    for base in ("usr/lib/modules", "lib/modules"):
        for image in sorted(root.glob(f"{base}/*/vmlinuz")):
            candidates.append((image.parent.name, image))
    if not candidates:
        raise LayoutError(f"{root}: no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz in the extracted packages")
    releases = {release for release, _ in candidates}
    if len(releases) > 1:
        raise LayoutError(f"{root}: several kernel releases in one spec: {sorted(releases)}")
    release, vmlinuz = candidates[0]
    modules = None
    for base in ("usr/lib/modules", "lib/modules"):
        d = root / base / release / "kernel"
        if d.is_dir():
            modules = d.parent
            break
    return KernelLayout(release=release, vmlinuz=vmlinuz, modules=modules)
