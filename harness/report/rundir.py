"""A fresh run directory under kharness-results, and the `latest` link pointing to it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def fresh_run_dir(root: Path, label: str = "", now: datetime | None = None) -> Path:
    """root/run-YYYYmmdd-HHMMSS[-label] (with -N added when taken), made, and root/latest pointing to it
    (unless `latest` is something else than a link)."""
    stamp = (now or datetime.now()).strftime("run-%Y%m%d-%H%M%S") + (f"-{label}" if label else "")
    root.mkdir(parents=True, exist_ok=True)
    run_dir, suffix = root / stamp, 0
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{stamp}-{suffix}"
    run_dir.mkdir()
    latest = root / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(run_dir.name)
    return run_dir
