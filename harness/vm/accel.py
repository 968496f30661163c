"""Probe whether KVM really works (not only whether /dev/kvm exists), with a hard timeout; remember it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

PROBE_EXIT = 99  # isa-debug-exit turns the byte 0x31 into exit status (0x31 << 1) | 1
PROBE_TIMEOUT = 10.0

# A 64 KiB BIOS whose reset vector (at 0xFFF0) runs: mov al, 0x31; out 0xf4, al; hlt; jmp $-1.
_RESET_CODE = bytes([0xB0, 0x31, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])


def probe_bios(directory: Path) -> Path:
    path = directory / "kvm-probe-bios.bin"
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        blob = bytearray(0x10000)
        blob[0xFFF0:0xFFF0 + len(_RESET_CODE)] = _RESET_CODE
        path.write_bytes(bytes(blob))
    return path


def probe_argv(qemu: str, accel: str, bios: Path) -> list[str]:
    cpu = "host" if accel == "kvm" else "max"
    return [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-machine", "pc",
            "-accel", accel, "-cpu", cpu, "-m", "16", "-bios", str(bios),
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def run_probe(qemu: str, accel: str, cache: Path) -> tuple[bool, str]:
    """Boot a 7-byte BIOS that exits QEMU through isa-debug-exit; a hang or abort means no."""
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    try:
        result = subprocess.run(probe_argv(qemu, accel, probe_bios(cache)), capture_output=True,
                                text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, f"a {accel} guest did not run 3 instructions within {PROBE_TIMEOUT:.0f} s (nested virtualisation missing?)"
    if result.returncode == PROBE_EXIT:
        return True, "probe guest ran"
    tail = (result.stderr.strip().splitlines() or ["no message"])[-1]
    return False, f"probe exited {result.returncode}: {tail}"


def _probe_key(qemu_version: str) -> str:
    try:
        st = os.stat("/dev/kvm")
        dev = f"{st.st_rdev}:{st.st_mode}"
    except OSError:
        dev = "none"
    return f"{qemu_version}|{os.uname().release}|{dev}"


def choose(requested: str, qemu: str, qemu_version: str, cache: Path, log=print) -> str:
    """The accelerator to use: `kvm` or `tcg` as forced, or for `auto` the remembered probe verdict."""
    if requested in ("kvm", "tcg"):
        return requested
    if requested != "auto":
        raise ValueError(f"--accel {requested!r}: expected auto, kvm or tcg")
    memo = cache / "accel.json"
    key = _probe_key(qemu_version)
    try:
        saved = json.loads(memo.read_text())
        if isinstance(saved, dict) and saved.get("key") == key and saved.get("accel") in ("kvm", "tcg"):
            return saved["accel"]
    except (OSError, ValueError):
        pass  # a missing or damaged memo just means probing again
    works, why = run_probe(qemu, "kvm", cache)
    accel = "kvm" if works else "tcg"
    log(f"[accel] KVM {'works' if works else 'unusable: ' + why}; using {accel} "
        f"(remembered in {memo}; force with --accel)")
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps({"key": key, "accel": accel, "why": why}))
    return accel
