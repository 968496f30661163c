"""`python -m harness`: run the suites in guests, run one command, open a shell, list kernels, set up."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .guests import VmOptions
from .profiles import DEFAULT as DEFAULT_PROFILE, PROFILES

EPILOG = """examples:
  python -m harness run                          # the default matrix of vm-images/kernels.toml
  python -m harness run --kernel 6.1 -- -k cgroup
  python -m harness run --kernel ~/linux/arch/x86/boot/bzImage --modules /lib/modules/6.13.0
  python -m harness kconfig --check ~/linux && python -m harness run --kernel ~/linux -- -k cgroup
  python -m harness exec --kernel 6.12 -- uname -r
  python -m harness shell --kernel 6.12
  python -m harness kernels --fetch
  python -m harness kernels update 6.12 --dry-run
  python -m harness bisect --series 6.12 --from 6.12.107 --to 6.12.118 -- -k test_memory_high
  python -m harness run --only benchmarks --baseline kharness-results/benchmarks --report
  python -m harness bench compare kharness-results/run-A kharness-results/latest
  python -m harness report merge shard-5.10 shard-6.1 --output merged
"""


def _vm_arguments(parser: argparse.ArgumentParser, many: bool) -> None:
    parser.add_argument("--kernel", action="append", default=[], metavar="NAME|PATH",
                        help="a kernel of vm-images/kernels.toml, a bzImage path, or a kernel build tree"
                             + (" (repeatable; default: the matrix's default list)" if many else ""))
    parser.add_argument("--modules", type=Path, help="lib/modules/<release> directory for a --kernel PATH")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                        help="acceleration; auto probes KVM once and falls back to TCG (default: auto)")
    parser.add_argument("--clock", choices=("auto", "real", "icount"), default="auto",
                        help="the guest's clocks: real (the host's time) or icount (one ns per emulated "
                             "instruction: reproducible benchmark times, TCG only); auto is icount when TCG "
                             "runs --only benchmarks, real otherwise (default: auto)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="deadline per guest in seconds, after which it is killed (default: the profile's, "
                             "2400 s for ci, 2700 for full; each test also has its own 420 s limit in the guest)")
    parser.add_argument("--profile", choices=tuple(PROFILES), default=DEFAULT_PROFILE,
                        help="repetitions of the soak and property tests: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROFILES.values())
                        + f" (default: {DEFAULT_PROFILE}); every test runs in every profile")
    parser.add_argument("--memory", type=int, default=1024, metavar="MB", help="guest memory (default: 1024)")
    parser.add_argument("--cpus", type=int, metavar="N",
                        help="guest vCPUs (default: 2; 1 under the icount clock, where a second vCPU hangs "
                             "5.10 and 6.1 at boot)")
    parser.add_argument("--append", action="append", default=[], metavar="KERNEL_ARGS",
                        help="extra kernel command-line arguments (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each guest's console, each line prefixed by its kernel's name")
    parser.add_argument("--matrix", type=Path, help="another kernels.toml (default: vm-images/kernels.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suites and benchmarks in one guest per kernel",
                         description="Boot one guest per kernel, run pytest inside, report. "
                                     "Arguments after -- go to pytest in every guest.")
    _vm_arguments(run, many=True)
    run.add_argument("--jobs", type=int, default=0, metavar="N",
                     help="guests booted at once (default: one per host CPU, since a guest keeps about one "
                          "core busy; benchmarks in the host's time: 1)")
    run.add_argument("--output", type=Path, help="results directory (default: kharness-results/run-*)")
    run.add_argument("--only", choices=("suites", "benchmarks"),
                     help="run only the suites or only the benchmarks (default: both)")
    run.add_argument("--baseline", type=Path, metavar="RUN|STORAGE",
                     help="after the run, compare its benchmarks with this run or storage directory; "
                          "exit 1 on a significant regression")
    run.add_argument("--report", action="store_true",
                     help="write the benchmark HTML report into the run directory (needs matplotlib)")
    run.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    ex = sub.add_parser("exec", help="run one command in a fresh guest and exit with its status")
    _vm_arguments(ex, many=False)
    ex.add_argument("command_argv", nargs="+", metavar="CMD", help="the command (after --)")
    sh = sub.add_parser("shell", help="an interactive shell in a disposable guest")
    _vm_arguments(sh, many=False)
    ks = sub.add_parser("kernels", help="list the kernel matrix and what is cached; --fetch downloads; "
                                        "`kernels update` pins the newest release of each series",
                        description="List the matrix (`kernels [--fetch] [NAME...]`), or with `kernels update "
                                    "[NAME...] [--dry-run]` look up the newest packaged release of each kernel's "
                                    "series in its suite, show the change of versions and sha256 and the diff, "
                                    "and rewrite kernels.toml.")
    ks.add_argument("--fetch", action="store_true", help="download and extract every kernel (or those named)")
    ks.add_argument("names", nargs="*", metavar="[update] NAME",
                    help="kernels to list, fetch or update (default: all); `update` first to update pins")
    ks.add_argument("--dry-run", action="store_true", help="with update: show the change, write nothing")
    ks.add_argument("--matrix", type=Path, help="another kernels.toml")
    bi = sub.add_parser("bisect", help="find the first packaged point release of a series where a test fails",
                        description="Boot the Debian point releases of one series between --from (good) and "
                                    "--to (bad), as git bisect tests commits, and name the first release where "
                                    "pytest (arguments after --) fails, where a command fails (--exec), or where "
                                    "a benchmark regresses against --from by the compare rule (--bench).")
    _vm_arguments(bi, many=False)
    bi.add_argument("--series", required=True, metavar="NAME", help="a kernel of kernels.toml, e.g. 6.12: its "
                    "series and suite give the releases")
    bi.add_argument("--from", dest="start", required=True, metavar="V1",
                    help="a good release: 6.12.107, 6.12.107-1~deb12u1 or 6.12.107+deb12-cloud-amd64")
    bi.add_argument("--to", dest="end", required=True, metavar="V2", help="a bad release, newer than V1")
    how = bi.add_mutually_exclusive_group()
    how.add_argument("--exec", dest="exec_command", action="store_true",
                     help="the arguments after -- are a command run in each guest: exit 0 is good, else bad")
    how.add_argument("--bench", action="store_true",
                     help="run the benchmarks (pytest arguments after --, e.g. -k start); a significant "
                          "regression against --from is bad")
    bi.add_argument("--output", type=Path, default=Path("kharness-results") / "bisect",
                    help="where each release's results and bisect.json go (default: kharness-results/bisect)")
    bi.add_argument("pytest_args", nargs="*", help="pytest arguments, or the command with --exec (after --)")
    sub.add_parser("kconfig", add_help=False,
                   help="check a kernel .config (or build tree) against vm-images/kharness.config (see `kconfig --help`)")
    sub.add_parser("report", add_help=False,
                   help="merge the run directories of CI shards into one run (see `report --help`)")
    sub.add_parser("bench", add_help=False,
                   help="benchmark results: compare, store, report, check-report (see `bench --help`)")
    st = sub.add_parser("setup", help="check the system packages the harness needs")
    st.add_argument("--install", action="store_true", help="install what is missing with apt-get (as root)")
    return parser


def _options(args: argparse.Namespace) -> VmOptions:
    timeout = args.timeout if args.timeout is not None else PROFILES[args.profile].deadline
    if timeout <= 0 or args.memory < 128 or (args.cpus is not None and args.cpus < 1):
        raise ValueError("--timeout must be positive, --memory at least 128 MB, --cpus at least 1")
    return VmOptions(kernels=args.kernel, modules=args.modules, accel=args.accel, timeout=timeout,
                     jobs=getattr(args, "jobs", 0), memory_mb=args.memory, cpus=args.cpus,
                     append=args.append, verbose=args.verbose, matrix=args.matrix, clock=args.clock,
                     profile=args.profile)


def list_kernels(args: argparse.Namespace) -> int:
    from .kernels import cache
    from .kernels.spec import DEFAULT_MATRIX, load_matrix
    if args.names[:1] == ["update"]:
        from .kernels.update import update
        if args.fetch:
            raise ValueError("kernels update writes pins; fetch them afterwards with `kernels --fetch`")
        return update(args.matrix or DEFAULT_MATRIX, args.names[1:], cache.cache_root() / "apt-state",
                      dry_run=args.dry_run, log=log)
    if args.dry_run:
        raise ValueError("--dry-run goes with `kernels update`")
    matrix = load_matrix(args.matrix) if args.matrix else load_matrix()
    names = args.names or list(matrix.kernels)
    for name in names:
        spec = matrix.get(name)
        if args.fetch:
            cache.fetch(spec, matrix=args.matrix)
        hit = cache.cached(spec)
        default = "default" if name in matrix.default else ""
        state = f"cached at {hit.vmlinuz.parent}" if hit else "not cached"
        print(f"{name:>6}  {spec.release:<32} {default:<8} {state}")
        print(f"{'':>6}  {', '.join(f'{p.name}={p.version}' for p in spec.packages)}")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    from . import run, setup_host
    if args.command == "setup":
        return setup_host.ensure(args.install)
    if args.command == "kernels":
        return list_kernels(args)
    opts = _options(args)
    if args.command == "bisect":
        from .bisect import BisectOptions, bisect
        if opts.kernels:
            raise ValueError("bisect boots the releases of --series; it takes no --kernel")
        if args.exec_command and not args.pytest_args:
            raise ValueError("bisect --exec needs the command after --")
        bo = BisectOptions(args.series, args.start, args.end, [] if args.exec_command else args.pytest_args,
                           command=args.pytest_args if args.exec_command else None, benchmarks=args.bench,
                           output=args.output, matrix=args.matrix or BisectOptions.matrix)
        return bisect(bo, opts, log=log)
    if args.command in ("exec", "shell") and len(opts.kernels) != 1:
        # Checked before anything is fetched or built: without --kernel every default kernel would be.
        raise ValueError(f"{args.command} boots one guest: pass --kernel once (a name of "
                         f"{args.matrix or 'vm-images/kernels.toml'}, or a bzImage path)")
    if args.command == "run":
        bench = run.BenchOptions(baseline=args.baseline, report=args.report)
        return run.run_suites(opts, args.pytest_args, args.output, log=log, only=args.only, bench=bench)
    if args.command == "exec":
        return run.run_command(opts, args.command_argv, log=log)
    return run.shell(opts, log=log)


_print_lock = threading.Lock()


def log(message: str) -> None:
    """Print one whole line even when several guest threads report at once."""
    with _print_lock:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    from .image.build import ImageError
    from .image.elf import ClosureError
    from .image.python_tree import ImageSourceError
    from .kernels.apt import FetchError
    from .kernels.bzimage import NotAKernel
    from .kernels.layout import LayoutError
    from .kernels.modules import ModuleError
    from .kernels.spec import MatrixError
    from .vm import launch
    from .vm.qemu import QemuError
    expected = (MatrixError, FetchError, NotAKernel, LayoutError, ModuleError, ImageError, ClosureError,
                ImageSourceError, QemuError, ValueError)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kconfig"]:
        from .kernels.kconfig_cli import main as kconfig_main
        return kconfig_main(argv[1:])
    if argv[:1] == ["report"]:
        from .report.cli import main as report_main
        return report_main(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench.cli import main as bench_main
        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return dispatch(args)
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        launch.kill_all()
        print("interrupted: every guest was killed", file=sys.stderr)
        return 130
