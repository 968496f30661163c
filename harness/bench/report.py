"""The benchmark report: one HTML page with PNG plots beside it that opens from the file system, and its check."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from .compare import TCG_NOTE, Comparison
from .htmlcheck import check_html
from .results import KernelResults, format_seconds, kernel_order, load
from .storage import history_all, machine_id

STYLE = """body { font-family: sans-serif; margin: 1.5em; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.regression { background: #fbd5d5; } .improvement { background: #d5f5dc; }
.note { background: #fff6d5; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }"""

TCG_EXPLAINED = ("Under TCG, QEMU translates the guest's instructions, so each time here says how fast this QEMU "
                 "emulates the kernel on this host, not how fast the kernel runs on hardware.")
ICOUNT_EXPLAINED = ("With the icount clock the guest's time is counted in emulated instructions, 1 ns each: "
                    "those times do not depend on the host's speed or load, and they weigh every instruction "
                    "alike (no cache misses, no TLB refills, no device latency).")


class ReportError(ValueError):
    """The report cannot be written or checked; the message names the path."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "benchmark"


def _table(header: list[str], rows: list[list[str]], numeric: frozenset[int] | set[int] = frozenset(),
           row_class: list[str] | None = None) -> str:
    """An HTML table from already escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for n, row in enumerate(rows):
        cls = f' class="{row_class[n]}"' if row_class and row_class[n] else ""
        cells = "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _comparison_html(c: Comparison) -> list[str]:
    order = {"regression": 0, "improvement": 1, "unchanged": 2}
    rows = sorted(c.rows, key=lambda r: order[r.verdict])
    out = ["<h2>A/B comparison</h2>",
           f"<p>A (baseline): <code>{escape(c.source_a)}</code><br>B: <code>{escape(c.source_b)}</code></p>",
           f"<p><strong>{c.count('regression')} regression(s)</strong>, {c.count('improvement')} improvement(s), "
           f"{c.count('unchanged')} unchanged of {len(c.rows)} compared: permutation test on the medians "
           f"({c.permutations} permutations), significant at p &lt; {c.alpha:g}, and a change beyond the "
           f"noise threshold ({c.default_threshold:g}% unless benchmarks/thresholds.toml says otherwise).</p>"]
    if rows:
        out.append(_table(
            ["kernel", "benchmark", "median A", "median B", "change", "threshold", "p", "verdict"],
            [[escape(r.kernel), escape(r.benchmark), format_seconds(r.median_a), format_seconds(r.median_b),
              f"{r.change:+.1f}%", f"{r.threshold:g}%", f"{r.p:.4f}", r.verdict] for r in rows],
            numeric={2, 3, 4, 5, 6}, row_class=[r.verdict if r.verdict != "unchanged" else "" for r in rows]))
    items = [f"not comparable: {escape(k)}: {escape(why)}" for k, why in c.not_comparable]
    items += [f"only in A: {escape(k)} {escape(b)}" for k, b in c.only_a]
    items += [f"only in B: {escape(k)} {escape(b)}" for k, b in c.only_b]
    items += [f"kernel only in A: {escape(k)}" for k in c.kernels_only_a]
    items += [f"kernel only in B: {escape(k)}" for k in c.kernels_only_b]
    items += [escape(n) for n in c.notes]
    if items:
        out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    return out


def _context_html(results: list[KernelResults]) -> list[str]:
    rows = [[escape(r.kernel), escape(r.context.kernel_release), escape(r.context.accel or "unknown"),
             escape(r.context.clock),
             escape(r.context.host_cpu_model or "unknown"), escape(r.context.guest_cpu_model or "unknown"),
             escape(r.context.qemu_version or "none"), escape(r.context.commit or "unknown"),
             escape(r.context.datetime), str(r.context.vcpus or "?"), escape(str(r.source))] for r in results]
    return ["<h2>Context</h2>",
            _table(["kernel", "release", "accel", "clock", "host CPU", "guest CPU", "QEMU", "harness commit", "measured",
                    "vCPUs", "file"], rows)]


def _figure(src: str, caption: str) -> str:
    return (f'<figure><img src="{escape(src)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _benchmark_html(index: int, name: str, results: list[KernelResults], figures: list[str]) -> list[str]:
    present = [r for r in results if name in r.benchmarks]
    rows = [[escape(r.kernel), str(len(r.benchmarks[name].samples)), format_seconds(r.benchmarks[name].median),
             format_seconds(r.benchmarks[name].iqr)] for r in present]
    return [f'<h2 id="b{index:02d}">{escape(name)}</h2>',
            _table(["kernel", "rounds", "median", "IQR"], rows, numeric={1, 2, 3}), *figures]


def _plots_module():
    try:
        from . import plots
    except ImportError as exc:
        raise ReportError(f"bench report draws its plots with matplotlib, which cannot be imported ({exc}): "
                          "pip install matplotlib") from None
    return plots


def write_report(run: Path, output: Path, comparison: Comparison | None = None,
                 storage: Path | None = None) -> Path:
    """Write index.html and its PNGs into `output` for a run (file, run or storage directory); its path."""
    plots = _plots_module()
    results = sorted(load(Path(run)), key=lambda r: kernel_order(r.kernel))
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{output}: cannot create the report directory: {exc.strerror or exc}") from None
    emulated = any(r.context.accel == "tcg" for r in results)
    names = list(dict.fromkeys(name for r in results for name in r.benchmarks))
    machines = sorted({machine_id(r.context) for r in results if r.context.known})
    histories = {m: history_all(storage, m) for m in machines} if storage is not None else {}
    body = [f"<h1>Benchmarks: {escape(Path(run).resolve().name)}</h1>"]
    if emulated:
        icount = f" {ICOUNT_EXPLAINED}" if any(r.context.clock == "icount" for r in results) else ""
        body.append(f'<p class="note"><strong>Emulated times.</strong> {escape(TCG_EXPLAINED + icount)} '
                    f"{escape(TCG_NOTE)}.</p>")
    body.append("<p>Results are compared only within the same accel, clock, and host and guest CPU.</p>")
    if comparison is not None:
        body += _comparison_html(comparison)
    body += _context_html(results)
    body.append("<h2>Benchmarks</h2><ul>" + "".join(
        f'<li><a href="#b{i:02d}">{escape(n)}</a></li>' for i, n in enumerate(names)) + "</ul>")
    for i, name in enumerate(names):
        stem = f"{i:02d}-{_slug(name)}"
        samples = {r.kernel: r.benchmarks[name].samples for r in results if name in r.benchmarks}
        plots.distribution(output / f"{stem}-dist.png", name, samples, emulated)
        figures = [_figure(f"{stem}-dist.png", f"{name}: every round per kernel (box: quartiles)")]
        for machine, table in histories.items():
            kernels = {r.kernel for r in results if r.context.known and machine_id(r.context) == machine}
            points = {k: v for k, v in table.get(name, {}).items() if k in kernels}
            if points:
                plots.history(output / f"{stem}-history-{machine}.png", f"{name} on {machine}", points, emulated)
                figures.append(_figure(f"{stem}-history-{machine}.png",
                                       f"{name}: median over the stored runs of {machine} (bar: IQR)"))
        body += _benchmark_html(i, name, results, figures)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<p>Written by python -m harness bench report at {stamp}.</p>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            f"<title>Benchmarks: {escape(Path(run).resolve().name)}</title><style>{STYLE}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
    index = output / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def check_report(directory: Path) -> list[str]:
    """Problems of a written report (unbalanced tags, missing images or links); empty when it is sound."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such report directory")
    index = directory / "index.html"
    if not index.is_file():
        return [f"{index}: missing"]
    problems = check_html(index.read_text(encoding="utf-8"), directory, str(index))
    return problems
