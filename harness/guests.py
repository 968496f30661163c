"""Resolve --kernel arguments and prepare each guest's kernel, image and QEMU settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .image.build import Image, build_images
from .kernels import cache
from .kernels.spec import Matrix, load_matrix
from .vm import accel as accel_probe
from .vm.qemu import arch_params, find_qemu, qemu_version


@dataclass
class VmOptions:
    """The options every guest-booting command shares."""

    kernels: list[str] = field(default_factory=list)
    modules: Path | None = None
    accel: str = "auto"
    timeout: float = 2700.0  # the full profile's; `run` takes its profile's (harness.profiles)
    jobs: int = 0
    memory_mb: int = 1024
    cpus: int | None = None  # None: 2, or 1 under the icount clock (see guest_cpus)
    append: list[str] = field(default_factory=list)
    verbose: bool = False
    matrix: Path | None = None
    clock: str = "auto"
    profile: str = "ci"


@dataclass
class Prepared:
    """A kernel ready to boot, with its image."""

    kernel: cache.BootableKernel
    image: Image


def looks_like_path(arg: str) -> bool:
    return "/" in arg or os.path.isfile(arg) or os.path.isdir(arg)


def resolve_kernels(opts: VmOptions, log=print) -> list[cache.BootableKernel]:
    """Matrix names are fetched (or taken from the cache); paths are local bzImages."""
    matrix: Matrix | None = None
    names = opts.kernels
    if not names:
        matrix = load_matrix(opts.matrix) if opts.matrix else load_matrix()
        names = list(matrix.default)
    kernels = []
    for arg in names:
        if looks_like_path(arg):
            kernels.append(cache.local(Path(arg), opts.modules, log=log))
            continue
        if matrix is None:
            matrix = load_matrix(opts.matrix) if opts.matrix else load_matrix()
        kernels.append(cache.fetch(matrix.get(arg), log=log, matrix=opts.matrix))
    return kernels


def resolve_clock(requested: str, accel: str, benchmarks_only: bool) -> str:
    """The guest clock: as asked, or for `auto` icount where TCG runs only benchmarks (reproducible emulated
    times), and the host's time otherwise. icount counts emulated instructions, so KVM cannot have it.

    Not icount for the suites: in the one full run tried (6.12, 2 vCPUs, 2026-11-30) 5 namespace tests failed
    that pass with the host's time, and the guest then took a double fault; an icount guest also has one vCPU
    (see guest_cpus), and the cpu and scaling checks want two."""
    if requested not in ("auto", "real", "icount"):
        raise ValueError(f"--clock {requested!r}: expected auto, real or icount")
    if requested == "icount" and accel != "tcg":
        raise ValueError(f"--clock icount needs TCG, and this run uses {accel}: pass --accel tcg or --clock real")
    if requested == "auto":
        return "icount" if accel == "tcg" and benchmarks_only else "real"
    return requested


DEFAULT_CPUS = 2


def guest_cpus(requested: int | None, clock: str) -> int:
    """vCPUs of a guest: as asked, else 1 under icount and 2 otherwise.

    icount with a second vCPU hangs 5.10 and 6.1 at SMP bring-up ("x86: Booting SMP configuration:" and
    nothing more) and took a double fault in 6.12's slab allocator once (QEMU 7.2, 2026-11-30)."""
    if requested is not None:
        return requested
    return 1 if clock == "icount" else DEFAULT_CPUS


def default_jobs(count: int, host_cpus: int | None = None) -> int:
    """Guests booted at once: one per host CPU (at most one per kernel).

    A guest keeps about one core busy whatever its vCPUs: pytest runs one test at a time (a 2-vCPU TCG guest's
    vCPU threads used 75% and 33% of a core in the suites). Two 2-vCPU guests on this 2-core machine ran the
    same tests on 5.10 and 6.1 in 146 s against 245 s one after the other (each guest 17-20% slower, first
    test at 21 s instead of 14-17 s; 2026-12-04)."""
    host_cpus = host_cpus or os.cpu_count() or 1
    return max(1, min(count, host_cpus))


@dataclass(frozen=True)
class RunPlan:
    """What a run decides once, before any guest boots: the guests, QEMU (binary, version, the architecture's
    data file), acceleration, clock, vCPUs and memory per guest, how many boot at once, and the context the
    guests are told (accel, clock, QEMU version, commit, host CPU)."""

    prepared: list[Prepared]
    qemu: str
    version: str
    params: dict
    accel: str
    clock: str
    cpus: int
    jobs: int
    context: dict

    def describe(self, memory_mb: int, timeout: float) -> str:
        return (f"{len(self.prepared)} kernel(s), {self.jobs} at a time, accel {self.accel} ({self.clock} clock), "
                f"{self.cpus} vCPU, {memory_mb} MB each, deadline {timeout:.0f} s")


def plan(opts: VmOptions, benchmarks_only: bool = False, log=print) -> RunPlan:
    """Fetch kernels, build images, choose acceleration, clock, vCPUs and parallelism."""
    params = arch_params()
    qemu = find_qemu(params)
    kernels = resolve_kernels(opts, log=log)
    prepared = [Prepared(kernel, image) for kernel, image in zip(kernels, build_images(kernels, log=log))]
    version = qemu_version(qemu)
    accel = accel_probe.choose(opts.accel, qemu, version, cache.cache_root(), log=log)
    clock = resolve_clock(opts.clock, accel, benchmarks_only)
    cpus = guest_cpus(opts.cpus, clock)
    # Benchmarks in the host's time boot one guest at a time: parallel guests disturb each other's timings
    # (IQRs grew 5-10x with two TCG guests on two cores). icount times do not depend on the host's load.
    jobs = opts.jobs or (1 if benchmarks_only and clock == "real" else default_jobs(len(prepared)))
    return RunPlan(prepared, qemu, version, params, accel, clock, cpus, jobs, host_context(accel, version, clock))


def host_context(accel: str, qemu_version: str, clock: str = "real") -> dict:
    """What the guest cannot know itself, for the benchmarks' machine info."""
    import subprocess
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"accel": accel, "clock": clock, "qemu_version": qemu_version, "commit": commit or "unknown",
            "host_cpu": cpu}
