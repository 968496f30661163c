"""pytest's assertion-rewritten bytecode of the project's test modules, made on the host for the image.

pytest rewrites the asserts of every test module, conftest and plugin it imports, and caches the result in
__pycache__ only where it may write: the guests run with -B, so each guest rewrote all 42 modules anew, 0.75 s
natively and about 15 s under TCG before the first test. The files made here are those pytest would write, in
pytest's own format (its _write_pyc_fp), and each is read back with pytest's own _read_pyc before it is packed,
so a pytest whose cache format differs simply gets none and rewrites as before."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import io
import os
import tempfile
from pathlib import Path

# What pytest marks for rewriting in a guest run: conftests, test modules (python_files' default), and the
# plugin modules named by the root conftest's pytest_plugins.
TEST_PATTERNS = ("test_*.py", "*_test.py")
PLUGINS = ("harness/plugin.py",)


def rewritten_by_pytest(path: str, project: str) -> bool:
    """Whether pytest rewrites this project file's asserts when it imports it."""
    name = os.path.basename(path)
    relative = os.path.relpath(path, project)
    return name == "conftest.py" or any(fnmatch.fnmatch(name, p) for p in TEST_PATTERNS) or relative in PLUGINS


def pytest_pycs(sources: dict[str, bytes], project: str) -> dict[str, bytes]:
    """{pyc path: bytes} of pytest's rewrite cache for each source pytest rewrites (none if pytest's cache
    format is not the one this module knows)."""
    try:
        from _pytest.assertion import rewrite
        write, read, tail = rewrite._write_pyc_fp, rewrite._read_pyc, rewrite.PYC_TAIL
    except (ImportError, AttributeError):
        return {}
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="kharness-rewrite-") as tmp:
        for path, source in sorted(sources.items()):
            if not rewritten_by_pytest(path, project):
                continue
            try:
                tree = ast.parse(source, filename=path)
                rewrite.rewrite_asserts(tree, source, path, None)
                code = compile(tree, path, "exec", dont_inherit=True)
                buffer = io.BytesIO()
                try:
                    write(buffer, importlib.util.source_hash(source), code)  # pytest 9.1 on: the source's hash
                except AttributeError:
                    buffer = io.BytesIO()
                    write(buffer, os.stat(path), code)  # older: the source's mtime and size (kept in the image)
            except (OSError, SyntaxError, TypeError, ValueError, AttributeError):
                return {}  # another pytest's signature or format: leave the rewriting to the guest
            # Checked the way the guest's pytest will check it: against the source, with pytest's reader.
            probe_source, probe_pyc = Path(tmp, "source.py"), Path(tmp, "source.pyc")
            probe_source.write_bytes(source)
            mtime = os.stat(path).st_mtime
            os.utime(probe_source, (mtime, mtime))
            probe_pyc.write_bytes(buffer.getvalue())
            if read(probe_source, probe_pyc) is None:
                return {}
            head, _, name = path.rpartition("/")
            out[f"{head}/__pycache__/{name[:-3]}{tail}"] = buffer.getvalue()
    return out
