"""Merge the run directories of CI shards (one kernel each) into one run directory, as an unsharded run writes it."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import junit, summary
from .junit import KernelReport
from .rundir import fresh_run_dir

# Where `python -m harness run` puts its runs (harness.run.RESULTS_ROOT; not imported: report sits below run).
RESULTS_ROOT = Path("kharness-results")
CONSOLE_TAIL = 40  # lines of the console a run keeps for its closing report (harness.vm.console)
EXPECTED = ("expected a run directory: the --output of `python -m harness run` (or `tox -e kernel -- --output DIR`), "
            "holding summary.json and one subdirectory per kernel")


class MergeError(ValueError):
    """The shards cannot be merged; the message names the directory or file at fault."""


@dataclass(frozen=True)
class Shard:
    """One run directory to merge: its path and its summary.json entries, in their order."""

    path: Path
    entries: dict[str, dict]

    def has_benchmarks(self) -> bool:
        return any((self.path / kernel / "benchmark.json").is_file() for kernel in self.entries)


@dataclass(frozen=True)
class KernelRun:
    """One kernel's end as a run directory records it: summary.json's entry and the console log beside it."""

    kernel: str
    status: str
    reason: str
    seconds: float
    seconds_to_init: float | None
    seconds_to_first_test: float | None
    console_log: Path
    console_tail: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class Merged:
    """The merged run: its directory, and per kernel how it ended and its tests."""

    out: Path
    runs: list[KernelRun]
    reports: list[KernelReport]

    @property
    def status(self) -> int:
        """0 when every kernel passed, 1 otherwise (as `python -m harness run`)."""
        return 0 if all(run.ok for run in self.runs) else 1

    def lines(self) -> list[str]:
        """What an unsharded run of the same kernels prints at its end."""
        return summary.closing_lines(self.runs, self.reports, self.out / "junit.xml")


def _number(where: Path, kernel: str, entry: dict, key: str, optional: bool) -> float | None:
    value = entry.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MergeError(f"{where}: {kernel}.{key}: expected a number, got {value!r}")
    return float(value)


def _check_entry(where: Path, kernel: str, entry: object) -> None:
    if not kernel or kernel in (".", "..") or "/" in kernel or "\\" in kernel:
        raise MergeError(f"{where}: {kernel!r} is not a kernel name (it names the kernel's subdirectory)")
    if not isinstance(entry, dict):
        raise MergeError(f"{where}: {kernel}: expected an object with the kernel's status, got {entry!r}")
    if not isinstance(entry.get("status"), str) or not entry["status"]:
        raise MergeError(f"{where}: {kernel}.status: expected a status such as \"passed\", got {entry.get('status')!r}")
    if not isinstance(entry.get("reason", ""), str):
        raise MergeError(f"{where}: {kernel}.reason: expected a string, got {entry['reason']!r}")
    for key in ("seconds", "seconds_to_init", "seconds_to_first_test"):
        _number(where, kernel, entry, key, optional=True)


def read_shard(path: Path) -> Shard:
    """A shard's summary.json, checked: every kernel it names has an entry with a status, and a directory."""
    if not path.is_dir():
        raise MergeError(f"{path}: no such directory; {EXPECTED}")
    where = path / "summary.json"
    if not where.is_file():
        raise MergeError(f"{path}: not a run directory, it has no summary.json; {EXPECTED}")
    try:
        entries = json.loads(where.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise MergeError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(entries, dict):
        raise MergeError(f"{where}: expected an object mapping each kernel to its status, got {type(entries).__name__}")
    for kernel, entry in entries.items():
        _check_entry(where, kernel, entry)
        if not (path / kernel).is_dir():
            raise MergeError(f"{path / kernel}: no such directory, yet {where} lists kernel {kernel!r} "
                             "(an incomplete copy or upload of the shard?)")
    return Shard(path, entries)


def read_shards(paths: list[Path]) -> list[Shard]:
    """Every shard, checked, and checked against each other: a directory once, a kernel in one shard only."""
    shards: list[Shard] = []
    for path in paths:
        same = [s.path for s in shards if s.path.resolve() == path.resolve()]
        if same:
            raise MergeError(f"{path}: given twice (also as {same[0]}); name each shard once")
        shards.append(read_shard(path))
    owner: dict[str, Path] = {}
    for shard in shards:
        for kernel in shard.entries:
            if kernel in owner:
                raise MergeError(f"kernel {kernel!r} is in two shards, {owner[kernel]} and {shard.path}; "
                                 "each kernel must come from exactly one shard")
            owner[kernel] = shard.path
    if not owner:
        raise MergeError(f"nothing to merge: the summary.json of {', '.join(str(p) for p in paths)} names no kernel")
    return shards


def default_output(root: Path = RESULTS_ROOT, now: datetime | None = None) -> Path:
    """A fresh root/run-YYYYmmdd-HHMMSS-merged (a suffix if taken), and root/latest pointing to it."""
    return fresh_run_dir(root, "merged", now)


def prepare_output(out: Path) -> Path:
    """`out`, made; refused when it exists and holds anything (merging into a shard would mix two runs)."""
    if out.exists() and not out.is_dir():
        raise MergeError(f"{out}: exists and is not a directory; --output takes a new or empty directory")
    if out.is_dir() and any(out.iterdir()):
        raise MergeError(f"{out}: exists and is not empty; --output takes a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _tail(console_log: Path) -> tuple[str, ...]:
    if not console_log.is_file():
        return ()
    return tuple(console_log.read_text(errors="replace").splitlines()[-CONSOLE_TAIL:])


def kernel_run(run_dir: Path, kernel: str, entry: dict, source: Path) -> KernelRun:
    """One kernel of a run directory; `source`, the summary.json its entry came from, is named if it lacks a reason."""
    console = run_dir / kernel / "console.log"
    reason = entry.get("reason") or f"no reason recorded in {source} (an older run); see the console log"
    seconds = _number(source, kernel, entry, "seconds", optional=True)
    return KernelRun(kernel, entry["status"], reason, seconds or 0.0,
                     _number(source, kernel, entry, "seconds_to_init", optional=True),
                     _number(source, kernel, entry, "seconds_to_first_test", optional=True),
                     console, _tail(console) if entry["status"] != "passed" else ())


def kernel_results(run: KernelRun, run_dir: Path) -> tuple[KernelReport, ET.Element]:
    """The kernel's report and testsuite, from its own junit.xml as the run built them (harness.run.report)."""
    path = run_dir / run.kernel / "junit.xml"
    xml = path.read_bytes() if path.is_file() else None
    try:
        return junit.for_outcome(run.kernel, run.status, run.reason, xml, run.console_log)
    except ET.ParseError as exc:
        raise MergeError(f"{path}: not valid JUnit XML: {exc}") from None


def merge(shards: list[Shard], out: Path) -> Merged:
    """Copy every shard's kernel directories into `out` and write its summary.json and junit.xml."""
    entries: dict[str, dict] = {}
    sources: dict[str, Path] = {}
    for shard in shards:
        for kernel, entry in shard.entries.items():
            shutil.copytree(shard.path / kernel, out / kernel, symlinks=True)
            entries[kernel] = entry
            sources[kernel] = shard.path / "summary.json"
    (out / "summary.json").write_text(json.dumps(entries, indent=1))
    runs = [kernel_run(out, kernel, entry, sources[kernel]) for kernel, entry in entries.items()]
    reports, suites = [], []
    for run in runs:
        report, suite = kernel_results(run, out)
        reports.append(report)
        suites.append(suite)
    junit.write_merged(suites, out / "junit.xml")
    return Merged(out, runs, reports)
