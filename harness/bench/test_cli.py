"""Tests of `python -m harness bench`: exit statuses, output, and errors printed without a traceback."""

import json

import pytest

from harness.bench.cli import main
from harness.bench.synthetic import document, samples, write, write_run


@pytest.fixture
def pair(tmp_path):
    """Baseline and candidate files: test_b is 10 % slower in the candidate, test_a alike."""
    a = write(tmp_path / "a.json", document({"test_a": samples(0.01, seed=1), "test_b": samples(0.02, seed=2)}))
    b = write(tmp_path / "b.json", document({"test_a": samples(0.01, seed=3), "test_b": samples(0.022, seed=4)}))
    return a, b


def test_compare_exits_1_on_a_regression_and_writes_json(pair, tmp_path, capsys):
    """A significant slowdown beyond the threshold: the table says regression, exit status 1, JSON written."""
    a, b = pair
    assert main(["compare", str(a), str(b), "--json", str(tmp_path / "ab.json")]) == 1
    out = capsys.readouterr().out
    assert "test_b" in out and "regression" in out
    assert json.loads((tmp_path / "ab.json").read_text())["counts"]["regression"] == 1


def test_compare_exits_0_when_unchanged_or_overridden(pair, capsys):
    """A/A gives 0; a --threshold-for above the change turns the regression into unchanged, exit 0."""
    a, b = pair
    assert main(["compare", str(a), str(a)]) == 0
    assert main(["compare", str(b), str(b), "--permutations", "500"]) == 0
    assert main(["compare", str(a), str(b), "--threshold-for", "test_b=15"]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--threshold", "20"]) == 0


def test_compare_reports_context_mismatch_and_exits_0(tmp_path, capsys):
    """KVM against TCG is not compared: the kernel is listed as not comparable."""
    a = write(tmp_path / "a.json", document({"t": samples(0.01, seed=1)}))
    b = write(tmp_path / "b.json", document({"t": samples(0.005, seed=2)}, accel="kvm"))
    assert main(["compare", str(a), str(b)]) == 0
    assert "not comparable: 6.1: accel tcg vs kvm" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["compare", "{tmp}/missing.json", "{tmp}/missing.json"], "missing.json: no such file or directory"),
    (["compare", "{a}", "{a}", "--threshold-for", "oops"], "--threshold-for 'oops': expected PATTERN=PCT"),
    (["compare", "{a}", "{a}", "--alpha", "2"], "alpha must be between 0 and 1"),
    (["compare", "{a}", "{a}", "--thresholds", "{tmp}/none.toml"], "none.toml: cannot read"),
    (["compare", "{a}", "{a}", "--permutations", "0"], "--permutations must be at least 1"),
    (["store", "{tmp}/missing"], "missing: not a benchmark JSON file nor a run directory"),
    (["check-report", "{tmp}/missing"], "missing: no such report directory"),
])
def test_bad_input_prints_error_and_exits_2(pair, tmp_path, capsys, args, message):
    """Bad input gives `error: ...` naming the problem on stderr, status 2, and no traceback."""
    a, _ = pair
    assert main([x.format(tmp=tmp_path, a=a) for x in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_usage_errors_return_2_and_help_0(capsys):
    """argparse's own errors return 2 and --help returns 0, instead of raising SystemExit."""
    assert main(["compare", "only-one"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "compare" in capsys.readouterr().out


def test_store_then_report_then_check(tmp_path, capsys):
    """store files a run; report prints index.html's path; check-report passes, then fails without a PNG."""
    pytest.importorskip("matplotlib", reason="the report draws its plots with matplotlib (pip install matplotlib)")
    run = write_run(tmp_path / "run", {"6.1": document({"t": samples(0.01, seed=1)})})
    store = tmp_path / "store"
    assert main(["store", str(run), "--storage", str(store)]) == 0
    assert "stored as" in capsys.readouterr().out
    assert main(["store", str(run), "--storage", str(store)]) == 0
    assert "already stored as" in capsys.readouterr().out
    assert main(["report", str(run), "--compare", str(run), "--storage", str(store)]) == 0
    index = capsys.readouterr().out.strip()
    assert index == str(run / "bench-report" / "index.html")
    assert main(["check-report", str(run / "bench-report")]) == 0
    assert capsys.readouterr().out.endswith(": ok\n")
    (run / "bench-report" / "00-t-dist.png").unlink()
    assert main(["check-report", str(run / "bench-report")]) == 1
    assert "00-t-dist.png" in capsys.readouterr().out
