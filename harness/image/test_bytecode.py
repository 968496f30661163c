"""Tests of in-memory bytecode compilation: unchecked-hash .pyc files at the interpreter's cache paths."""

import importlib.util
import marshal
import sys

from harness.image import bytecode


def test_pyc_path_is_pycache_with_cache_tag():
    """The pyc of dir/name.py is dir/__pycache__/name.<cache tag>.pyc."""
    tag = sys.implementation.cache_tag
    assert bytecode.pyc_path("/usr/lib/python3.11/os.py") == f"/usr/lib/python3.11/__pycache__/os.{tag}.pyc"
    assert importlib.util.cache_from_source("/usr/lib/python3.11/os.py") == bytecode.pyc_path("/usr/lib/python3.11/os.py")


def test_compile_all_yields_cpython_311_paths():
    """compile_all maps each source to __pycache__/name.cpython-311.pyc (the interpreter of this venv)."""
    out = bytecode.compile_all({"/p/pkg/mod.py": b"X = 1\n", "/p/pkg/__init__.py": b""})
    assert set(out) == {"/p/pkg/__pycache__/mod.cpython-311.pyc", "/p/pkg/__pycache__/__init__.cpython-311.pyc"}


def test_pyc_is_unchecked_hash_based_and_runs():
    """The pyc has the interpreter's magic, flags 0b01 (hash-based, unchecked), the source hash, and runs."""
    source = b"def answer():\n    return 6 * 7\nVALUE = answer()\n"
    data = bytecode.compile_all({"/p/m.py": source})["/p/__pycache__/m.cpython-311.pyc"]
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b01
    assert data[8:16] == importlib.util.source_hash(source)
    code = marshal.loads(data[16:])
    namespace = {}
    exec(code, namespace)
    assert namespace["VALUE"] == 42
    assert code.co_filename == "/p/m.py"


def test_importlib_loads_the_pyc_without_checking_the_source(tmp_path, monkeypatch):
    """importlib imports the unchecked pyc even when the source beside it has changed (the image is immutable)."""
    src = tmp_path / "kh_bytecode_probe.py"
    data = bytecode.compile_all({str(src): b"ORIGIN = 'pyc'\n"})[bytecode.pyc_path(str(src))]
    src.write_text("ORIGIN = 'source'\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / f"kh_bytecode_probe.{sys.implementation.cache_tag}.pyc").write_bytes(data)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    spec = importlib.util.spec_from_file_location("kh_bytecode_probe", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ORIGIN == "pyc"


def test_syntax_error_file_is_skipped():
    """A source that does not compile gets no pyc; the others still do."""
    out = bytecode.compile_all({"/p/good.py": b"A = 1\n", "/p/bad.py": b"def broken(:\n", "/p/py2.py": b"print 'x'\n"})
    assert list(out) == ["/p/__pycache__/good.cpython-311.pyc"]


def test_compile_source_reports_none_for_null_bytes():
    """Source with a NUL byte (ValueError in compile on some versions) is skipped, not raised."""
    path, pyc = bytecode.compile_source(("/p/nul.py", b"A = 1\0\n"))
    assert path == "/p/nul.py"
    assert pyc is None


def test_compile_all_in_a_process_pool_matches_serial():
    """More than 200 sources are compiled in worker processes with the same result as serially."""
    sources = {f"/p/m{i}.py": f"V = {i}\n".encode() for i in range(205)}
    parallel = bytecode.compile_all(sources, workers=2)
    serial = bytecode.compile_all(sources, workers=1)
    assert parallel == serial
    assert len(parallel) == 205
