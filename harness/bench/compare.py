"""A/B comparison of benchmark results, like Firecracker's: permutation test plus a noise threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from . import results as results_mod
from .results import Context, KernelResults, format_seconds, kernel_order
from .stats import DEFAULT_PERMUTATIONS, DEFAULT_SEED, permutation_p, relative_change
from .thresholds import Thresholds

DEFAULT_ALPHA = 0.01
TCG_NOTE = ("TCG times are emulated times: ratios between kernels and runtimes are meaningful only "
            "against the same emulator (QEMU version) on the same host")

# The context fields that must be equal for two results to be compared, and how they are named.
_LIKE_FOR_LIKE = (("accel", "accel"), ("clock", "clock"), ("host_cpu_model", "host CPU"),
                  ("guest_cpu_model", "guest CPU"), ("vcpus", "vCPUs"))


@dataclass(frozen=True)
class Row:
    """One (kernel, benchmark) present on both sides: medians in seconds, change and threshold in percent."""

    kernel: str
    benchmark: str
    median_a: float
    median_b: float
    change: float
    p: float
    threshold: float
    verdict: str
    rounds_a: int
    rounds_b: int

    def to_json(self) -> dict:
        return {"kernel": self.kernel, "benchmark": self.benchmark, "median_a": self.median_a,
                "median_b": self.median_b, "change_pct": self.change if math.isfinite(self.change) else None,
                "p": self.p, "threshold_pct": self.threshold, "verdict": self.verdict,
                "rounds_a": self.rounds_a, "rounds_b": self.rounds_b}


@dataclass
class Comparison:
    """Every verdict of an A/B comparison, and everything that could not be compared, with why."""

    alpha: float
    permutations: int
    default_threshold: float
    source_a: str = "A"
    source_b: str = "B"
    rows: list[Row] = field(default_factory=list)
    not_comparable: list[tuple[str, str]] = field(default_factory=list)
    only_a: list[tuple[str, str]] = field(default_factory=list)
    only_b: list[tuple[str, str]] = field(default_factory=list)
    kernels_only_a: list[str] = field(default_factory=list)
    kernels_only_b: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contexts: dict[str, dict[str, Context]] = field(default_factory=lambda: {"a": {}, "b": {}})

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.rows if r.verdict == verdict)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "regression"]

    @property
    def emulated(self) -> bool:
        return any(c.accel == "tcg" for side in self.contexts.values() for c in side.values())

    def to_json(self) -> dict:
        return {
            "a": self.source_a, "b": self.source_b, "alpha": self.alpha, "permutations": self.permutations,
            "default_threshold_pct": self.default_threshold, "rows": [r.to_json() for r in self.rows],
            "not_comparable": [{"kernel": k, "reason": why} for k, why in self.not_comparable],
            "only_in_a": [{"kernel": k, "benchmark": b} for k, b in self.only_a],
            "only_in_b": [{"kernel": k, "benchmark": b} for k, b in self.only_b],
            "kernels_only_in_a": self.kernels_only_a, "kernels_only_in_b": self.kernels_only_b,
            "notes": self.notes, "tcg_note": TCG_NOTE if self.emulated else None,
            "contexts": {side: {k: c.to_json() for k, c in ctx.items()} for side, ctx in self.contexts.items()},
            "counts": {v: self.count(v) for v in ("regression", "improvement", "unchanged")},
        }

    def table(self) -> list[str]:
        """The text report: the table, then what was not compared, then a one-line summary."""
        lines = [f"A: {self.source_a}", f"B: {self.source_b}"]
        header = ("kernel", "benchmark", "median A", "median B", "change", "thr", "p", "verdict")
        cells = [header] + [(r.kernel, r.benchmark, format_seconds(r.median_a), format_seconds(r.median_b),
                             f"{r.change:+.1f}%", f"{r.threshold:g}%", f"{r.p:.4f}", r.verdict)
                            for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        right = {2, 3, 4, 5, 6}
        for row in cells if self.rows else []:
            lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        lines += [f"not comparable: {k}: {why}" for k, why in self.not_comparable]
        lines += [f"only in A: {k} {b}" for k, b in self.only_a] + [f"only in B: {k} {b}" for k, b in self.only_b]
        lines += [f"kernel only in A: {k}" for k in self.kernels_only_a]
        lines += [f"kernel only in B: {k}" for k in self.kernels_only_b]
        lines += [f"note: {n}" for n in self.notes]
        if self.emulated:
            lines.append(f"note: {TCG_NOTE}")
        lines.append(f"{len(self.rows)} compared: {self.count('regression')} regression(s), "
                     f"{self.count('improvement')} improvement(s), {self.count('unchanged')} unchanged "
                     f"(permutation test on medians, {self.permutations} permutations, alpha {self.alpha:g}; "
                     f"threshold {self.default_threshold:g}% unless overridden)")
        return lines


def mismatch(a: KernelResults, b: KernelResults) -> str | None:
    """Why two kernels' results may not be compared, or None when their contexts are like for like."""
    for side, r in (("A", a), ("B", b)):
        if not r.context.known:
            return f"no machine_info.kharness in {r.source} ({side}): accel and CPU unknown"
    # A file without a vCPU count (older than the field) is compared on the rest.
    reasons = [f"{label} {getattr(a.context, key) or '?'} vs {getattr(b.context, key) or '?'}"
               for key, label in _LIKE_FOR_LIKE if getattr(a.context, key) != getattr(b.context, key)
               and None not in (getattr(a.context, key), getattr(b.context, key))]
    return "; ".join(reasons) or None


def verdict(change: float, p: float, alpha: float, threshold: float) -> str:
    if p < alpha and change > threshold:
        return "regression"
    if p < alpha and change < -threshold:
        return "improvement"
    return "unchanged"


def _notes(kernel: str, a: Context, b: Context) -> list[str]:
    notes = []
    if a.qemu_version != b.qemu_version:
        notes.append(f"{kernel}: QEMU differs ({a.qemu_version or '?'} vs {b.qemu_version or '?'}); "
                     "under TCG the emulator's speed is part of every time")
    if a.kernel_release != b.kernel_release:
        notes.append(f"{kernel}: kernel release {a.kernel_release} (A) vs {b.kernel_release} (B)")
    return notes


def _pick(candidates: list[KernelResults], b: KernelResults) -> tuple[KernelResults, str | None]:
    """A's result for B's kernel: one in the same context if any (storage may hold several machines)."""
    for a in candidates:
        if mismatch(a, b) is None:
            return a, None
    return candidates[0], mismatch(candidates[0], b)


def compare(side_a: list[KernelResults], side_b: list[KernelResults], thresholds: Thresholds | None = None,
            alpha: float = DEFAULT_ALPHA, permutations: int = DEFAULT_PERMUTATIONS,
            seed: int = DEFAULT_SEED) -> Comparison:
    """Compare B (the candidate) against A (the baseline), kernel by kernel and benchmark by benchmark."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    thresholds = thresholds or Thresholds()
    out = Comparison(alpha, permutations, thresholds.default)
    by_kernel: dict[str, list[KernelResults]] = {}
    for a in side_a:
        by_kernel.setdefault(a.kernel, []).append(a)
    used: set[str] = set()
    for b in sorted(side_b, key=lambda r: kernel_order(r.kernel)):
        if b.kernel not in by_kernel:
            out.kernels_only_b.append(b.kernel)
            continue
        used.add(b.kernel)
        a, reason = _pick(by_kernel[b.kernel], b)
        out.contexts["a"][a.kernel], out.contexts["b"][b.kernel] = a.context, b.context
        if reason:
            out.not_comparable.append((b.kernel, reason))
            continue
        out.notes += _notes(b.kernel, a.context, b.context)
        for side, results in (("A", a), ("B", b)):
            out.notes += [f"{results.kernel}: {name} in {side} was slowed on purpose by {pct:g}% (--inject-slowdown)"
                          for name, pct in results.injected.items()]
        out.only_a += [(a.kernel, n) for n in a.benchmarks if n not in b.benchmarks]
        out.only_b += [(b.kernel, n) for n in b.benchmarks if n not in a.benchmarks]
        for name, bench_b in b.benchmarks.items():
            if name in a.benchmarks:
                out.rows.append(_row(a.benchmarks[name], bench_b, thresholds, alpha, permutations, seed))
    out.kernels_only_a = sorted((k for k in by_kernel if k not in used), key=kernel_order)
    return out


def _row(a, b, thresholds: Thresholds, alpha: float, permutations: int, seed: int) -> Row:
    change = relative_change(a.samples, b.samples)
    p = permutation_p(a.samples, b.samples, permutations, alpha=alpha, seed=seed)
    threshold = thresholds.for_benchmark(b.name)
    return Row(b.kernel, b.name, a.median, b.median, change, p, threshold, verdict(change, p, alpha, threshold),
               len(a.samples), len(b.samples))


def compare_paths(path_a: Path, path_b: Path, thresholds: Thresholds | None = None,
                  alpha: float = DEFAULT_ALPHA, permutations: int = DEFAULT_PERMUTATIONS) -> Comparison:
    """Load A (baseline) and B (candidate) from files, run or storage directories, and compare them."""
    out = compare(results_mod.load(Path(path_a)), results_mod.load(Path(path_b)), thresholds, alpha,
                  permutations)
    out.source_a, out.source_b = str(path_a), str(path_b)
    return out
