"""The QEMU command line of a guest, from the architecture's data file and the run's options."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..request import CMDLINE_LIMIT, GuestRequest

ARCH_FILE = Path(__file__).resolve().parents[2] / "vm-images" / "qemu-x86_64.toml"


class QemuError(RuntimeError):
    """QEMU is missing or the command line cannot be built."""


@dataclass(frozen=True)
class GuestConfig:
    """Everything that decides one guest's command line."""

    kernel: Path
    initrd: Path
    results: Path
    accel: str = "tcg"
    memory_mb: int = 1024
    cpus: int = 2
    append: tuple[str, ...] = ()
    request: GuestRequest = field(default_factory=lambda: GuestRequest("shell", ""))
    interactive: bool = False
    clock: str = "real"  # "real": the guest's clocks follow the host's; "icount": they count instructions (TCG)


def arch_params(path: Path = ARCH_FILE) -> dict:
    return tomllib.loads(path.read_text())


def find_qemu(params: dict | None = None) -> str:
    binary = (params or arch_params())["binary"]
    found = shutil.which(binary)
    if not found:
        raise QemuError(f"{binary} not found on PATH: install QEMU (`apt-get install qemu-system-x86`)")
    return found


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def kernel_cmdline(cfg: GuestConfig, params: dict) -> str:
    words = [*params["kernel_args"], *cfg.append, cfg.request.to_cmdline()]
    line = " ".join(words)
    if len(line) >= CMDLINE_LIMIT:
        raise QemuError(f"kernel command line is {len(line)} bytes, the x86 limit is {CMDLINE_LIMIT}: "
                        "forward fewer or shorter pytest arguments")
    return line


def argv(cfg: GuestConfig, params: dict | None = None, binary: str | None = None) -> list[str]:
    """The full QEMU argv: no default devices, console on COM1, results channel on COM2."""
    params = params or arch_params()
    accel = params["accel"].get(cfg.accel)
    if accel is None:
        raise QemuError(f"accel {cfg.accel!r} is not described in {ARCH_FILE}")
    accel_argv = ["-accel", cfg.accel]
    if cfg.clock == "icount":
        if "icount" not in accel:
            raise QemuError(f"--clock icount needs TCG (accel.{cfg.accel}.icount in {ARCH_FILE}); "
                            f"this guest runs under {cfg.accel}: use --clock real")
        accel_argv = ["-accel", f"{cfg.accel},thread=single", "-icount", accel["icount"]]
    elif cfg.clock != "real":
        raise QemuError(f"clock {cfg.clock!r}: expected real or icount")
    console = ["-serial", "mon:stdio"] if cfg.interactive else \
        ["-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"]
    return [
        binary or params["binary"],
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-machine", params["machine"], *accel_argv, "-cpu", accel["cpu"],
        "-m", str(cfg.memory_mb), "-smp", str(cfg.cpus),
        "-kernel", str(cfg.kernel), "-initrd", str(cfg.initrd),
        "-append", kernel_cmdline(cfg, params),
        *console,
        "-chardev", f"file,id=results,path={cfg.results}", "-serial", "chardev:results",
        *params.get("scratch_disk", []),
    ]
