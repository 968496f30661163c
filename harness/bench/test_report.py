"""Tests of the HTML report (page, plots, relative links) and of its screenshot-free check."""

import pytest

from harness.bench.compare import compare
from harness.bench.htmlcheck import check_html
from harness.bench.report import ReportError, check_report, write_report
from harness.bench.results import load
from harness.bench.storage import store_run
from harness.bench.synthetic import document, samples, write_run

PNG = b"\x89PNG\r\n\x1a\n"


def two_kernel_run(path, when="2026-11-29T10:00:00+00:00", slow=1.0):
    return write_run(path, {
        "6.1": document({"test_a": samples(0.015, seed=1), "test_b[network]": samples(0.002, seed=2)}, when=when),
        "6.12": document({"test_a": samples(0.016 * slow, seed=3), "test_b[network]": samples(0.0021, seed=4)},
                         kernel="6.12", when=when)})


@pytest.fixture(scope="module")
def matplotlib_present():
    pytest.importorskip("matplotlib", reason="the report draws its plots with matplotlib (pip install matplotlib)")


def test_report_writes_page_and_plots_that_pass_the_check(tmp_path, matplotlib_present):
    """With a comparison and storage: index.html, a distribution and a history PNG per benchmark, check passes."""
    store = tmp_path / "store"
    store_run(two_kernel_run(tmp_path / "old1"), store)
    store_run(two_kernel_run(tmp_path / "old2", when="2026-11-29T11:00:00+00:00"), store)
    baseline = two_kernel_run(tmp_path / "base")
    new = two_kernel_run(tmp_path / "new", when="2026-11-29T12:00:00+00:00", slow=1.2)
    comparison = compare(load(baseline), load(new))
    index = write_report(new, tmp_path / "report", comparison, store)
    assert index == tmp_path / "report" / "index.html"
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert pngs == ["00-test_a-dist.png", "00-test_a-history-tcg-amd-epyc.png",
                    "01-test_b-network-dist.png", "01-test_b-network-history-tcg-amd-epyc.png"]
    assert all((tmp_path / "report" / p).read_bytes().startswith(PNG) for p in pngs)
    page = index.read_text()
    assert page.index("A/B comparison") < page.index("<h2>Context</h2>") < page.index("test_b[network]</h2>")
    assert '<tr class="regression"><td>6.12</td><td>test_a</td>' in page
    assert "Emulated times." in page and "same emulator" in page
    for fact in ("AMD EPYC", "QEMU TCG CPU version 2.5+", "QEMU emulator version 7.2.22", "328befb67767"):
        assert fact in page
    assert check_report(tmp_path / "report") == []


def test_report_of_one_run_without_storage(tmp_path, matplotlib_present):
    """Without comparison or storage: only distribution plots and no comparison section; still sound."""
    index = write_report(two_kernel_run(tmp_path / "run"), tmp_path / "out")
    assert sorted(p.name for p in index.parent.glob("*.png")) == ["00-test_a-dist.png", "01-test_b-network-dist.png"]
    assert "A/B comparison" not in index.read_text()
    assert check_report(index.parent) == []


def test_check_detects_a_removed_image(tmp_path, matplotlib_present):
    """Deleting one PNG of a written report makes check_report name that image."""
    index = write_report(two_kernel_run(tmp_path / "run"), tmp_path / "out")
    (index.parent / "01-test_b-network-dist.png").unlink()
    [problem] = check_report(index.parent)
    assert "01-test_b-network-dist.png" in problem and "no such file" in problem


def page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


def test_check_html_accepts_a_sound_page(tmp_path):
    """Balanced tags, void elements unclosed, an existing relative image and anchor links: no problems."""
    (tmp_path / "a b.png").write_bytes(PNG)
    body = '<h1>x</h1><p>a<br>b</p><img src="a%20b.png" alt="x"><a href="#top">top</a>'
    assert check_html(page(body), tmp_path) == []


@pytest.mark.parametrize("body, problem", [
    ("<table><tr><td>x</tr></table>", "</tr> while <td> (line 1) is open"),
    ("<p>x", "</body> while <p> (line 1) is open"),
    ("<p>x</p></div>", "</div> while <body> (line 1) is open"),
    ('<img src="gone.png" alt="g">', "<img src='gone.png'>: no such file"),
    ('<img src="/etc/x.png" alt="a">', "not a relative link"),
    ('<img src="http://example.org/x.png" alt="a">', "not a relative link"),
    ('<img src="">', "<img> without src"),
    ("<br></br>", "</br>: br is a void element"),
])
def test_check_html_finds_problems(tmp_path, body, problem):
    """Each kind of breakage is reported with the file name and a line number where it has one."""
    problems = check_html(page(body), tmp_path, "index.html")
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("index.html") for p in problems)


def test_check_html_reports_unclosed_and_stray_end_tags(tmp_path):
    """Elements left open at the end, and end tags after everything is closed, are problems with lines."""
    problems = check_html("<!DOCTYPE html>\n<html><head><title>t</title></head>\n<body><p>x", tmp_path)
    assert problems == ["index.html:2: <html> is never closed", "index.html:3: <body> is never closed",
                        "index.html:3: <p> is never closed"]
    assert check_html(page("") + "\n</div>", tmp_path) == ["index.html:2: </div> closes nothing"]


def test_check_html_needs_doctype_and_structure(tmp_path):
    """A fragment without DOCTYPE, html, head, title and body is reported as such."""
    problems = check_html("<p>x</p>", tmp_path)
    assert problems == ["index.html: no <!DOCTYPE html>", "index.html: no <html> element",
                        "index.html: no <head> element", "index.html: no <title> element",
                        "index.html: no <body> element"]


def test_check_report_on_missing_directory_and_page(tmp_path):
    """A missing directory is an error; a directory without index.html is a problem."""
    with pytest.raises(ReportError, match="nothing: no such report directory"):
        check_report(tmp_path / "nothing")
    assert check_report(tmp_path) == [f"{tmp_path / 'index.html'}: missing"]
