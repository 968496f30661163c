"""`python -m harness run`: boot one guest per kernel in parallel, run the suites, report, exit status."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import guests, profiles
from .guests import Prepared, RunPlan, VmOptions
from .progress import Progress
from .pytest_args import check_runtime, requested_runtime, split_paths
from .report import junit, summary
from .report.rundir import fresh_run_dir
from .request import GuestRequest
from .vm import launch
from .vm.qemu import GuestConfig

RESULTS_ROOT = Path("kharness-results")


def output_dir(base: Path | None) -> Path:
    """A fresh directory for this run, and the `latest` link pointing to it."""
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
        return base
    return fresh_run_dir(RESULTS_ROOT)


# The runtime's own tests that need a guest (pure cgroup v2, eBPF device programs) run with the suites.
RUNTIME_GUEST_TESTS = ("harness/runtime/test_integration.py", "harness/runtime/test_cgroups_guest.py",
                       "harness/runtime/test_devices_guest.py")


def guest_paths(only: str | None) -> list[str]:
    """What pytest collects in each guest: suites (with the runtime's guest tests), benchmarks, or both."""
    suites = ["suites", *RUNTIME_GUEST_TESTS]
    if only == "suites":
        return suites
    if only == "benchmarks":
        return ["benchmarks"]
    return [*suites, "benchmarks"]


# The suites' and benchmarks' knobs: set on the host, they reach pytest in every guest (nothing else of the
# host's environment does, so a guest run does not depend on the shell it was started from).
SUITE_ENV = ("KHARNESS_LIFECYCLE_RUNS", "KHARNESS_CONFORMANCE_EXAMPLES", "KHARNESS_HYPOTHESIS_PROFILE",
             "KHARNESS_BENCH_ROUNDS", "KHARNESS_RUNTIME", "KHARNESS_SABOTAGE", "KHARNESS_TEST_TIMEOUT",
             "KHARNESS_NETWORK_EXAMPLES")


def packed_runtimes() -> dict[str, Path]:
    """The reference runtimes the guests' image will carry: the host's runc and crun, by name."""
    from .image.build import other_runtimes
    return {path.name: path for path in other_runtimes()}


def suite_env(environ: dict | None = None, profile: str | None = None) -> dict:
    """The SUITE_ENV variables set in `environ` (the host's environment by default), over the defaults of
    `profile` (harness.profiles) when one is given."""
    environ = os.environ if environ is None else environ
    explicit = {name: environ[name] for name in SUITE_ENV if name in environ}
    return profiles.guest_env(profiles.get(profile), explicit) if profile else explicit


def guest_config(p: Prepared, opts: VmOptions, plan: RunPlan, out: Path, request: GuestRequest,
                 interactive: bool = False) -> GuestConfig:
    """One guest's QEMU settings, as the run's plan decided them."""
    return GuestConfig(
        kernel=p.kernel.vmlinuz, initrd=p.image.path, results=out / "results.bin", accel=plan.accel,
        memory_mb=opts.memory_mb, cpus=plan.cpus, append=tuple(opts.append),
        request=request, interactive=interactive, clock=plan.clock,
    )


@dataclass
class BenchOptions:
    """What to do with the benchmark results after the run."""

    baseline: Path | None = None
    report: bool = False
    storage: Path = RESULTS_ROOT / "benchmarks"


def run_suites(opts: VmOptions, pytest_args: list[str], out_base: Path | None = None, log=print,
               only: str | None = None, bench: BenchOptions | None = None) -> int:
    """Run the suites in one guest per kernel; 0 only when every guest passed (and nothing regressed)."""
    # Decided before anything is fetched or built: a wrong --runtime fails in a second, not after the boots.
    named, forwarded = split_paths(pytest_args)
    check_runtime(requested_runtime(forwarded, os.environ), packed_runtimes())
    plan = guests.plan(opts, benchmarks_only=only == "benchmarks", log=log)
    prepared = plan.prepared
    run_dir = output_dir(out_base)
    log(f"[run] {plan.describe(opts.memory_mb, opts.timeout)}, profile {opts.profile}; results in {run_dir}")
    outcomes: dict[str, launch.GuestOutcome] = {}
    interrupted = threading.Event()
    # A console printed line by line (-v) and a redrawn status line would garble each other.
    progress = Progress([p.kernel.name for p in prepared], log, tty=False if opts.verbose else None)

    def one(p: Prepared) -> launch.GuestOutcome:
        name = p.kernel.name
        progress.message(f"[{name}] booting {p.kernel.release}")
        progress.booting(name)
        request = GuestRequest("run", name, p.kernel.release, paths=tuple(named or guest_paths(only)),
                               pytest_args=tuple(forwarded), context=plan.context,
                               env=suite_env(profile=opts.profile))
        cfg = guest_config(p, opts, plan, run_dir / name, request)
        outcome = launch.run_guest(name, cfg, run_dir / name, opts.timeout, opts.verbose, binary=plan.qemu,
                                   params=plan.params,
                                   on_console=lambda mark, state: progress.console(name, mark, state))
        cfg.results.unlink(missing_ok=True)
        if interrupted.is_set():
            return outcome
        progress.finished(name, outcome.status)
        first = f"{outcome.seconds_to_first_test:.1f} s" if outcome.seconds_to_first_test else "never"
        progress.message(f"[{name}] {outcome.status} after {outcome.seconds:.1f} s "
                         f"(QEMU start to first test: {first})")
        return outcome

    pool = ThreadPoolExecutor(max_workers=plan.jobs)
    try:
        futures = [pool.submit(one, p) for p in prepared]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.kernel] = outcome
    except BaseException:
        interrupted.set()
        launch.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        progress.close()
    pool.shutdown()
    ordered = [outcomes[p.kernel.name] for p in prepared]
    status = report(ordered, run_dir, plan.accel, plan.version, log)
    bench_status = benchmarks_after_run(run_dir, bench or BenchOptions(), log)
    return status or bench_status


def report(outcomes: list[launch.GuestOutcome], run_dir: Path, accel: str, version: str, log=print) -> int:
    """Merge JUnit, print the table and one line per kernel; return the exit status.

    `python -m harness report merge` builds the same files and lines from the shards of a sharded run."""
    reports, suites = [], []
    for o in outcomes:
        rep, suite = junit.for_outcome(o.kernel, o.status, o.reason, o.files.get("junit.xml"), o.console_log)
        reports.append(rep)
        suites.append(suite)
    junit.write_merged(suites, run_dir / "junit.xml")
    (run_dir / "summary.json").write_text(json.dumps(summary.entries(outcomes, accel, version), indent=1))
    for line in summary.closing_lines(outcomes, reports, run_dir / "junit.xml"):
        log(line)
    return 0 if all(o.ok for o in outcomes) else 1


def benchmarks_after_run(run_dir: Path, bench: BenchOptions, log=print) -> int:
    """Store the run's benchmark results, compare them with a baseline, write the report."""
    from .bench import compare, report as bench_report, storage, thresholds
    from .bench.results import ResultsError
    if not any(run_dir.glob("*/benchmark.json")):
        if bench.baseline:
            log("[bench] no benchmark results in this run: nothing to compare with the baseline")
            return 1
        return 0
    try:
        for stored in storage.store_run(run_dir, bench.storage):
            log(f"[bench] {'already stored' if stored.already else 'stored'} {stored.dest}")
    except (ResultsError, OSError, ValueError) as exc:
        log(f"[bench] results not stored: {exc}")
    status, comparison = 0, None
    if bench.baseline:
        try:
            comparison = compare.compare_paths(bench.baseline, run_dir, thresholds=thresholds.load())
        except (ResultsError, OSError, ValueError) as exc:
            log(f"[bench] cannot compare with {bench.baseline}: {exc}")
            return 2
        for line in comparison.table():
            log(line)
        status = 1 if comparison.regressions else 0
    if bench.report:
        try:
            index = bench_report.write_report(run_dir, run_dir / "bench-report", comparison=comparison,
                                              storage=bench.storage)
            log(f"[bench] report: {index}")
        except (bench_report.ReportError, ResultsError, OSError) as exc:
            log(f"[bench] no report: {exc}")
            status = status or 2
    return status


def run_command(opts: VmOptions, command: list[str], log=print) -> int:
    """Run one command in a fresh guest of one kernel; print its output; return its status."""
    import sys
    plan = guests.plan(opts, log=log)
    if len(plan.prepared) != 1:
        raise ValueError("exec boots exactly one kernel: pass one --kernel")
    p = plan.prepared[0]
    out = output_dir(None) / p.kernel.name
    request = GuestRequest("exec", p.kernel.name, p.kernel.release, command=tuple(command), env=suite_env())
    started = time.monotonic()
    outcome = launch.run_guest(p.kernel.name, guest_config(p, opts, plan, out, request), out,
                               opts.timeout, opts.verbose, binary=plan.qemu, params=plan.params)
    sys.stdout.buffer.write(outcome.files.get("stdout", b""))
    sys.stdout.flush()
    sys.stderr.buffer.write(outcome.files.get("stderr", b""))
    if outcome.exit_status is None:
        log(f"[{p.kernel.name}] {outcome.status}: {outcome.reason}; console log: {outcome.console_log}")
        return 125
    log(f"[{p.kernel.name}] exit status {outcome.exit_status} after {time.monotonic() - started:.1f} s")
    return outcome.exit_status


def shell(opts: VmOptions, log=print) -> int:
    """An interactive shell in a disposable guest, on this terminal (Ctrl-A X quits QEMU)."""
    import subprocess
    import tempfile
    from .vm.qemu import argv
    plan = guests.plan(opts, log=log)
    if len(plan.prepared) != 1:
        raise ValueError("shell boots exactly one kernel: pass one --kernel")
    p = plan.prepared[0]
    with tempfile.TemporaryDirectory(prefix="kharness-shell-") as tmp:
        request = GuestRequest("shell", p.kernel.name, p.kernel.release, env=suite_env())
        cfg = guest_config(p, opts, plan, Path(tmp), request, interactive=True)
        log(f"[{p.kernel.name}] booting {p.kernel.release}; `exit` powers off, Ctrl-A X kills QEMU")
        proc = subprocess.Popen(argv(cfg, plan.params, binary=plan.qemu))
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
            return 130
