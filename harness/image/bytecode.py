"""Bytecode for the image: unchecked-hash .pyc files, compiled in memory so host trees stay untouched."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ProcessPoolExecutor
from importlib._bootstrap_external import _code_to_hash_pyc  # the stdlib's own pyc serialiser

TAG = sys.implementation.cache_tag


def pyc_path(py_path: str) -> str:
    """Where the interpreter looks for the bytecode of a source file."""
    head, _, name = py_path.rpartition("/")
    return f"{head}/__pycache__/{name[:-3]}.{TAG}.pyc"


def compile_source(item: tuple[str, bytes]) -> tuple[str, bytes | None]:
    """Compile one source to an unchecked-hash pyc (never revalidated: the image is immutable)."""
    path, source = item
    try:
        code = compile(source, path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        # Some packages ship templates or py2 files that never get imported; skip them like pip does.
        return path, None
    data = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False)
    return path, bytes(data)


def compile_all(sources: dict[str, bytes], workers: int = 2) -> dict[str, bytes]:
    """Map each guest source path to its pyc path and bytes."""
    items = sorted(sources.items())
    if workers > 1 and len(items) > 200:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(compile_source, items, chunksize=64))
    else:
        results = [compile_source(i) for i in items]
    return {pyc_path(path): pyc for path, pyc in results if pyc is not None}
