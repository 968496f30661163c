"""Tests of the pytest assertion-rewrite cache packed into the image."""

from pathlib import Path

from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc

from harness.image.rewrite import pytest_pycs, rewritten_by_pytest

TEST = b"def test_x():\n    x = 1\n    assert x == 2\n"


def test_only_modules_pytest_rewrites_are_chosen(tmp_path):
    """Conftests, test_*.py, *_test.py and the harness plugin are rewritten; a plain module is not."""
    root = str(tmp_path)
    assert rewritten_by_pytest(f"{root}/suites/test_ns_pid.py", root)
    assert rewritten_by_pytest(f"{root}/suites/conftest.py", root)
    assert rewritten_by_pytest(f"{root}/harness/plugin.py", root)
    assert not rewritten_by_pytest(f"{root}/suites/net_support.py", root)
    assert not rewritten_by_pytest(f"{root}/harness/run.py", root)


def test_the_cache_is_what_pytest_reads_and_rewrites_asserts(tmp_path):
    """Each packed file lies where pytest looks, pytest's own reader accepts it, and its assert is rewritten
    (the failure message shows the compared values)."""
    source = tmp_path / "suites" / "test_a.py"
    source.parent.mkdir()
    source.write_bytes(TEST)
    plain = tmp_path / "suites" / "helper.py"
    plain.write_bytes(b"X = 1\n")
    pycs = pytest_pycs({str(source): TEST, str(plain): b"X = 1\n"}, str(tmp_path))
    expected = tmp_path / "suites" / "__pycache__" / f"test_a{PYC_TAIL}"
    assert list(pycs) == [str(expected)]
    expected.parent.mkdir()
    expected.write_bytes(pycs[str(expected)])
    code = _read_pyc(source, expected)
    assert code is not None
    namespace: dict = {}
    exec(code, namespace)
    try:
        namespace["test_x"]()
    except AssertionError as error:
        assert "assert 1 == 2" in str(error)
    else:
        raise AssertionError("the rewritten test passed")


def test_a_changed_source_is_not_served_stale(tmp_path):
    """pytest rejects the cached file once the source differs from what was packed (its hash is checked)."""
    source = tmp_path / "test_b.py"
    source.write_bytes(TEST)
    (pyc_path, data), = pytest_pycs({str(source): TEST}, str(tmp_path)).items()
    Path(pyc_path).parent.mkdir()
    Path(pyc_path).write_bytes(data)
    source.write_bytes(TEST + b"# edited\n")
    assert _read_pyc(source, Path(pyc_path)) is None
