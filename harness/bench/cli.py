"""`python -m harness bench`: compare two runs, store a run, write and check the HTML report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import thresholds as thresholds_mod
from .compare import DEFAULT_ALPHA, Comparison, compare_paths
from .report import ReportError, check_report, write_report
from .results import ResultsError
from .stats import DEFAULT_PERMUTATIONS
from .storage import DEFAULT_STORAGE, store_run

EPILOG = """inputs: a run directory (kharness-results/run-*), one benchmark.json, or a storage directory
(its latest run per machine). Results are compared only within the same accel, clock and CPU.

examples:
  python -m harness bench compare kharness-results/run-A kharness-results/latest --json ab.json
  python -m harness bench compare kharness-results/benchmarks kharness-results/latest
  python -m harness bench store kharness-results/latest
  python -m harness bench report kharness-results/latest --compare kharness-results/run-A \\
      --storage kharness-results/benchmarks
  python -m harness bench check-report kharness-results/latest/bench-report
"""


def _comparison_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help=f"significance level of the permutation test (default: {DEFAULT_ALPHA})")
    parser.add_argument("--threshold", type=float, default=thresholds_mod.DEFAULT_THRESHOLD, metavar="PCT",
                        help="noise threshold in percent for benchmarks without an override (default: 5)")
    parser.add_argument("--threshold-for", action="append", default=[], metavar="PATTERN=PCT",
                        help="threshold for benchmarks matching a name or fnmatch pattern; repeatable, "
                             "wins over the thresholds file")
    parser.add_argument("--thresholds", type=Path, default=None, metavar="TOML",
                        help="per-benchmark thresholds (default: benchmarks/thresholds.toml, if present)")
    parser.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS, metavar="N",
                        help=f"permutations of the test (default: {DEFAULT_PERMUTATIONS})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness bench", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="A/B: is B slower or faster than A, benchmark by benchmark?",
                         description="Exit status 1 when any benchmark regressed significantly, 2 on bad input.")
    cmp.add_argument("a", type=Path, metavar="A", help="baseline results")
    cmp.add_argument("b", type=Path, metavar="B", help="candidate results")
    _comparison_arguments(cmp)
    cmp.add_argument("--json", type=Path, metavar="OUT", help="also write the comparison as JSON")
    st = sub.add_parser("store", help="copy a run's benchmark files into the storage directory")
    st.add_argument("run", type=Path, metavar="RUN")
    st.add_argument("--storage", type=Path, default=DEFAULT_STORAGE, metavar="DIR",
                    help=f"storage directory (default: {DEFAULT_STORAGE})")
    rp = sub.add_parser("report", help="write an HTML page with plots; prints the path of its index.html")
    rp.add_argument("run", type=Path, metavar="RUN")
    rp.add_argument("--compare", type=Path, metavar="BASELINE", help="put an A/B table (BASELINE vs RUN) on top")
    rp.add_argument("--storage", type=Path, metavar="DIR", help="plot the history of the medians stored there")
    rp.add_argument("--output", type=Path, metavar="DIR", help="report directory (default: RUN/bench-report)")
    _comparison_arguments(rp)
    ck = sub.add_parser("check-report", help="check a report's HTML and that every image it shows exists")
    ck.add_argument("directory", type=Path, metavar="DIR")
    return parser


def _thresholds(args: argparse.Namespace) -> thresholds_mod.Thresholds:
    path = args.thresholds
    if path is None and thresholds_mod.DEFAULT_FILE.is_file():
        path = thresholds_mod.DEFAULT_FILE
    loaded = thresholds_mod.load(path, default=args.threshold)
    return loaded.with_overrides([thresholds_mod.parse_cli(a) for a in args.threshold_for])


def _compare(args: argparse.Namespace, baseline: Path, candidate: Path) -> Comparison:
    if args.permutations < 1:
        raise ValueError(f"--permutations must be at least 1, got {args.permutations}")
    return compare_paths(baseline, candidate, _thresholds(args), args.alpha, args.permutations)


def run_compare(args: argparse.Namespace) -> int:
    comparison = _compare(args, args.a, args.b)
    print("\n".join(comparison.table()))
    if args.json:
        try:
            args.json.write_text(json.dumps(comparison.to_json(), indent=1) + "\n")
        except OSError as exc:
            raise ReportError(f"{args.json}: cannot write: {exc.strerror or exc}") from None
    return 1 if comparison.regressions else 0


def run_store(args: argparse.Namespace) -> int:
    for outcome in store_run(args.run, args.storage):
        state = "already stored as" if outcome.already else "stored as"
        print(f"{outcome.source}: {state} {outcome.dest}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    output = args.output
    if output is None:
        output = (args.run if args.run.is_dir() else args.run.parent) / "bench-report"
    comparison = None if args.compare is None else _compare(args, args.compare, args.run)
    print(write_report(args.run, output, comparison, args.storage))
    return 0


def run_check(args: argparse.Namespace) -> int:
    problems = check_report(args.directory)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {args.directory}")
        return 1
    print(f"{args.directory}: ok")
    return 0


COMMANDS = {"compare": run_compare, "store": run_store, "report": run_report, "check-report": run_check}


def main(argv: list[str] | None = None) -> int:
    """Run one bench subcommand; 0 ok, 1 regression (compare) or broken report (check-report), 2 bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and its error, or the help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except (ResultsError, ReportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
