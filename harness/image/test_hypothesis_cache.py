"""The image's hypothesis caches: hypothesis's own files, which a fresh hypothesis reads instead of recomputing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.guest import init
from harness.image import hypothesis_cache

pytest.importorskip("hypothesis")

# In a fresh interpreter pointed at the unpacked files: everything the guest's suites use first.
# Both tables are computed by a loop over every code point's chr(): count the calls.
_USE = r"""
import builtins, json, sys, types
from hypothesis.internal import charmap
from hypothesis.internal.constants_ast import constants_from_module
calls = []
charmap.chr = lambda i: calls.append(i) or builtins.chr(i)
charmap.charmap()
charmap.intervals_from_codec("utf-8")
module = types.ModuleType("m")
module.__file__ = sys.argv[1]
print(json.dumps({"chr_calls": len(calls), "constants": sorted(map(repr, constants_from_module(module)))}))
"""


def unpack(files: dict[str, bytes], root: Path) -> Path:
    """Write the image's files under root; return the storage directory."""
    for path, data in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root / hypothesis_cache.GUEST_STORAGE.lstrip("/")


def snapshot(directory: Path) -> dict[str, int]:
    """Each file's inode: hypothesis replaces a constants file it recomputes (write to a temporary, rename)."""
    return {str(p.relative_to(directory)): p.stat().st_ino for p in directory.rglob("*") if p.is_file()}


def test_a_fresh_hypothesis_reads_the_packed_tables_and_constants_without_recomputing(tmp_path):
    """The Unicode table, the utf-8 codec table and a module's constants are found where hypothesis looks:
    a new process uses them without its loop over every code point or a new constants file, and the module's
    constants are the ones in its source."""
    module = tmp_path / "src" / "limits.py"
    module.parent.mkdir()
    module.write_text('MEMORY = "memory.max"\nLIMIT = 123456789\n')
    files = hypothesis_cache.storage_files(unicode=True, modules=[str(module)])
    names = {Path(p).name for p in files}
    assert {"charmap.json.gz", "codec-v2-utf-8.json.gz"} <= names, names
    assert all(p.startswith(hypothesis_cache.GUEST_STORAGE + "/") for p in files)
    storage = unpack(files, tmp_path / "image")
    before = snapshot(storage / "constants")
    done = subprocess.run([sys.executable, "-c", _USE, str(module)], capture_output=True, text=True, check=True,
                          env={**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(storage)})
    used = json.loads(done.stdout)
    assert used["chr_calls"] == 0, "hypothesis recomputed a Unicode table the image carries"
    assert snapshot(storage / "constants") == before, "hypothesis recomputed a module's constants"
    assert "'memory.max'" in used["constants"] and "123456789" in used["constants"]


def test_the_guest_points_hypothesis_at_the_directory_the_image_fills():
    """The guest's environment names the directory the image's caches are packed in."""
    assert init.HYPOTHESIS_STORAGE == hypothesis_cache.GUEST_STORAGE


def test_a_failing_computation_is_an_error_naming_the_interpreter(monkeypatch):
    """A child that fails (here: exits 3 after a message) is an error with its exit status and its stderr."""
    monkeypatch.setattr(hypothesis_cache, "_WARM", "import sys; sys.exit('no unicodedata here')")
    with pytest.raises(hypothesis_cache.CacheError, match=r"failed \(exit 1\): no unicodedata here"):
        hypothesis_cache.storage_files(unicode=True)
