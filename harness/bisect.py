"""`python -m harness bisect`: find the first packaged point release of a series where a test fails or a
benchmark regresses, booting the releases in between as `git bisect` would test commits."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .guests import VmOptions
from .kernels import cache
from .kernels.series import PointRelease, SeriesError, find, list_series
from .kernels.spec import DEFAULT_MATRIX, KernelSpec, load_matrix


@dataclass
class Step:
    """One release tested: its verdict (good, bad) and where its results are."""

    release: PointRelease
    verdict: str
    status: int
    seconds: float
    results: Path


@dataclass
class Bisection:
    """The releases between a good and a bad end, and what was learnt of each."""

    releases: list[PointRelease]
    steps: list[Step] = field(default_factory=list)

    def verdict_of(self, index: int) -> str | None:
        for step in self.steps:
            if step.release == self.releases[index]:
                return step.verdict
        return None


def search(count: int, is_bad) -> tuple[int | None, str]:
    """Binary search over `count` ordered releases: the index of the first bad one, and a reason when there
    is none. The ends are tested first: a bad first release or a good last one means nothing to bisect."""
    if count < 2:
        return None, "bisect needs at least two releases between --from and --to"
    if is_bad(0):
        return None, "the first release already fails: pick an older --from"
    if not is_bad(count - 1):
        return None, "the last release passes: nothing regressed between --from and --to"
    good, bad = 0, count - 1
    while bad - good > 1:
        mid = (good + bad) // 2
        if is_bad(mid):
            bad = mid
        else:
            good = mid
    return bad, ""


def matrix_text(spec: KernelSpec) -> str:
    """A one-kernel kernels.toml for one release, so that `run` fetches, verifies and boots it as any pin."""
    packages = "\n".join(f'  {{ name = "{p.name}", version = "{p.version}", sha256 = "{p.sha256}" }},'
                         for p in spec.packages)
    return (f'# written by `python -m harness bisect`: {spec.release}\ndefault = ["{spec.name}"]\n\n'
            f'[kernels."{spec.name}"]\nrelease = "{spec.release}"\nsuite = "{spec.suite}"\n'
            f'packages = [\n{packages}\n]\n')


@dataclass
class BisectOptions:
    """What bisect was asked: the series, the ends, and what makes a release bad."""

    series: str
    start: str
    end: str
    pytest_args: list[str]
    command: list[str] | None = None      # --exec: the command's status decides (0 good, else bad)
    benchmarks: bool = False              # --bench: a significant regression against the first release is bad
    output: Path = Path("kharness-results") / "bisect"
    matrix: Path = DEFAULT_MATRIX


def releases_between(opts: BisectOptions, log=print) -> tuple[KernelSpec, list[PointRelease]]:
    """The point releases of the series from --from to --to (inclusive), oldest first."""
    spec = load_matrix(opts.matrix).get(opts.series)
    releases = list_series(spec, cache.cache_root() / "apt-state", log=log)
    first, last = find(releases, opts.start), find(releases, opts.end)
    lo, hi = releases.index(first), releases.index(last)
    if lo >= hi:
        raise SeriesError(f"--from {opts.start} ({first.version}) is not older than --to {opts.end} ({last.version})")
    return spec, releases[lo:hi + 1]


def comparison_line(comparison, reference: str) -> str:
    """One line on a --bench step: how many benchmarks were compared with the first release, how many regressed,
    and the largest change either way, so a good step shows what it rests on."""
    rows = comparison.rows
    if not rows:
        return f"[bisect] no benchmark in common with {reference}: nothing compared"
    largest = max(rows, key=lambda row: abs(row.change))
    return (f"[bisect] {len(rows)} benchmarks compared with {reference}: {len(comparison.regressions)} regressed; "
            f"largest change {largest.change:+.1f}% ({largest.benchmark}, p={largest.p:.3g}, "
            f"threshold {largest.threshold:g}%)")


def bisect(opts: BisectOptions, vm: VmOptions, log=print) -> int:
    """Bisect; print each step and the first bad release. 0 when one was found, 1 when none, 2 on bad input."""
    from . import run
    from .bench import compare, thresholds
    spec, releases = releases_between(opts, log=log)
    opts.output.mkdir(parents=True, exist_ok=True)
    log(f"[bisect] {len(releases)} releases of {opts.series} in {spec.suite}: "
        + ", ".join(r.version for r in releases))
    bisection = Bisection(releases)

    def is_bad(index: int) -> bool:
        release = releases[index]
        upstream = release.version.split("-")[0]
        out = opts.output / upstream
        out.mkdir(parents=True, exist_ok=True)
        (out / "kernels.toml").write_text(matrix_text(release.spec(spec)))
        step_vm = VmOptions(**{**vm.__dict__, "kernels": [opts.series], "matrix": out / "kernels.toml"})
        log(f"[bisect] testing {release.release} ({release.version})")
        started = time.monotonic()
        if opts.command:
            status = run.run_command(step_vm, opts.command, log=log)
            bad = status != 0
        else:
            status = run.run_suites(step_vm, opts.pytest_args, out / "run", log=log,
                                    only="benchmarks" if opts.benchmarks else None, bench=run.BenchOptions(
                                        storage=out / "benchmarks"))
            if status == 2:
                raise SeriesError(f"the run of {release.release} stopped on bad input (exit 2); see above")
            bad = status != 0
            if opts.benchmarks and not bad and index > 0:
                comparison = compare.compare_paths(opts.output / releases[0].version.split("-")[0] / "run",
                                                   out / "run", thresholds=thresholds.load())
                bad = bool(comparison.regressions)
                log(comparison_line(comparison, releases[0].release))
                for row in comparison.regressions:
                    log(f"[bisect] {row.benchmark}: {row.change:+.1f}% (p={row.p:.3g})")
        verdict = "bad" if bad else "good"
        bisection.steps.append(Step(release, verdict, status, time.monotonic() - started, out))
        log(f"[bisect] {release.release}: {verdict} (exit {status}, {time.monotonic() - started:.0f} s)")
        return bad

    first_bad, why = search(len(releases), is_bad)
    log("")
    for index, release in enumerate(releases):
        verdict = bisection.verdict_of(index) or "not tested"
        log(f"  {release.version:<24} {verdict}")
    record = {"series": opts.series, "suite": spec.suite, "releases": [r.version for r in releases],
              "steps": [{"release": s.release.release, "version": s.release.version, "verdict": s.verdict,
                         "status": s.status, "seconds": round(s.seconds, 1), "results": str(s.results)}
                        for s in bisection.steps],
              "first_bad": releases[first_bad].release if first_bad is not None else None, "reason": why}
    (opts.output / "bisect.json").write_text(json.dumps(record, indent=1))
    if first_bad is None:
        log(f"[bisect] no first bad release: {why}")
        return 1
    log(f"[bisect] first bad release: {releases[first_bad].release} ({releases[first_bad].version}); "
        f"last good: {releases[first_bad - 1].release}; {len(bisection.steps)} boots; record in "
        f"{opts.output / 'bisect.json'}")
    return 0
