"""`python -m harness report`: merge the run directories of CI shards into one run, with its report."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import merge

EPILOG = """A run directory is what `python -m harness run --output DIR` (or `tox -e kernel -- --output DIR`)
writes: summary.json, junit.xml and one subdirectory per kernel. Each kernel may come from one shard only.

exit status: 0 when every kernel passed, 1 when any failed (a failed test, no test, panic, oops, hang,
crash), 2 on bad input (a directory that is not a run directory, a kernel in two shards, an output
directory that is not empty, --report without matplotlib) or when the benchmark report cannot be written.

examples:
  # each CI runner: tox -e kernel -- --kernel 6.1 --output shard-6.1
  python -m harness report merge shard-5.10 shard-6.1 shard-6.12
  python -m harness report merge shard-* --output merged --report
  python -m harness bench compare kharness-results/benchmarks merged
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness report", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    mg = sub.add_parser("merge", help="merge the run directories of shards (one kernel each) into one run",
                        description="Copy each shard's kernel directories into one run directory, write its "
                                    "summary.json and merged junit.xml as an unsharded run of the same kernels "
                                    "would, and print its test x kernel table and one line per kernel.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    mg.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="a shard's run directory (its --output)")
    mg.add_argument("--output", type=Path, metavar="OUT",
                    help="the merged run directory, new or empty "
                         "(default: a fresh kharness-results/run-YYYYmmdd-HHMMSS-merged, and latest points to it)")
    mg.add_argument("--report", action="store_true",
                    help="also write the benchmark HTML report into OUT/bench-report when any shard has "
                         "benchmark.json (needs matplotlib: pip install -e '.[report]')")
    return parser


def _check_plots() -> None:
    """Refuse --report before anything is written when the plots cannot be drawn."""
    try:
        importlib.import_module("harness.bench.plots")  # imports matplotlib
    except ImportError as exc:
        raise merge.MergeError(f"--report draws the benchmark plots with matplotlib, which cannot be imported "
                               f"({exc}): pip install -e '.[report]' (or pip install matplotlib), or leave "
                               "out --report; nothing was merged") from None


def write_bench_report(out: Path) -> int:
    """The benchmark HTML report of the merged run into out/bench-report; 0, or 2 when it cannot be written."""
    from ..bench import report as bench_report
    from ..bench.results import ResultsError
    try:
        index = bench_report.write_report(out, out / "bench-report")
    except (bench_report.ReportError, ResultsError, OSError) as exc:
        print(f"[bench] no report: {exc}")
        return 2
    print(f"[bench] report: {index}")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    shards = merge.read_shards(args.dirs)
    benchmarks = any(shard.has_benchmarks() for shard in shards)
    if args.report and benchmarks:
        _check_plots()
    out = merge.prepare_output(args.output) if args.output else merge.default_output()
    kernels = sum(len(shard.entries) for shard in shards)
    print(f"[merge] {kernels} kernel(s) from {len(shards)} shard(s) into {out}")
    merged = merge.merge(shards, out)
    for line in merged.lines():
        print(line)
    status = merged.status
    if args.report:
        if benchmarks:
            # Written whatever the tests' outcome; a test failure (1) wins over a failed report (2).
            report_status = write_bench_report(out)
            status = status or report_status
        else:
            print("[bench] no <kernel>/benchmark.json in any shard: no benchmark report")
    return status


COMMANDS = {"merge": run_merge}


def main(argv: list[str] | None = None) -> int:
    """Run one report subcommand; 0 every kernel passed, 1 any failed, 2 bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and its error, or the help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except merge.MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
