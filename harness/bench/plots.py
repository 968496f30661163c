"""PNG plots with matplotlib's Agg canvas (no pyplot, no display): distributions per kernel, median history."""

from __future__ import annotations

import random
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .storage import HistoryPoint


def unit_for(seconds: float) -> tuple[str, float]:
    """The unit, and the factor from seconds, that suits times of about this size."""
    if seconds >= 1:
        return "s", 1.0
    if seconds >= 1e-3:
        return "ms", 1e3
    return "us", 1e6


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=96)
    return path


def distribution(path: Path, title: str, samples: dict[str, tuple[float, ...]], emulated: bool) -> Path:
    """A box per kernel with every sample drawn over it as a jittered dot (a strip plot)."""
    kernels = list(samples)
    unit, factor = unit_for(max(max(s) for s in samples.values()))
    figure = Figure(figsize=(max(4.0, 1.4 * len(kernels) + 2), 3.6))
    axes = figure.add_subplot()
    scaled = [[x * factor for x in samples[k]] for k in kernels]
    axes.boxplot(scaled, positions=range(1, len(kernels) + 1), widths=0.5, showfliers=False)
    jitter = random.Random(0)  # the same picture for the same data
    for i, values in enumerate(scaled, start=1):
        axes.plot([i + jitter.uniform(-0.15, 0.15) for _ in values], values, "o", markersize=3, alpha=0.5)
    axes.set_xticks(range(1, len(kernels) + 1), kernels)
    axes.set_xlabel("kernel")
    axes.set_ylabel(f"time per round ({unit}{', emulated' if emulated else ''})")
    axes.set_title(title, fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def history(path: Path, title: str, points: dict[str, list[HistoryPoint]], emulated: bool) -> Path:
    """The median (with its IQR as an error bar) of each kernel over the stored runs, by run number."""
    unit, factor = unit_for(max(p.median for series in points.values() for p in series))
    figure = Figure(figsize=(6.4, 3.6))
    axes = figure.add_subplot()
    for kernel, series in points.items():
        axes.errorbar([p.number for p in series], [p.median * factor for p in series],
                      yerr=[p.iqr * factor / 2 for p in series], marker="o", markersize=4, capsize=2,
                      label=kernel)
    numbers = sorted({p.number for series in points.values() for p in series})
    axes.set_xticks(numbers, [f"{n:04d}" for n in numbers], rotation=45 if len(numbers) > 8 else 0)
    axes.set_xlabel("stored run")
    axes.set_ylabel(f"median ({unit}{', emulated' if emulated else ''})")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(title="kernel", fontsize=8)
    return _save(figure, path)
