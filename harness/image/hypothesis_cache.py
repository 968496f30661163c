"""hypothesis's on-disk caches (Unicode tables, codec intervals, each module's constants), made on the host.

hypothesis computes these on first use and keeps them in its storage directory, which a guest loses at power
off. Natively they cost a second or two; under TCG (about 20x) the codec table alone, behind every from_regex,
took most of the generated conformance test (2026-12-05, 6.1, cProfile: 112 of 162 s in intervals_from_codec,
15 s in the constants of 75 local modules). The files here are hypothesis's own, written by hypothesis's own
functions into a storage directory the guest then points HYPOTHESIS_STORAGE_DIRECTORY at: a hypothesis that
reads them differently recomputes, as it would without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Where the image keeps the storage directory (the guest's HYPOTHESIS_STORAGE_DIRECTORY).
GUEST_STORAGE = "/var/cache/kharness-hypothesis"

# Run in a fresh interpreter: hypothesis fixes its storage directory on first use, process-wide.
_WARM = r"""
import json, sys, types
from hypothesis.internal import charmap
from hypothesis.internal.constants_ast import constants_from_module
what = json.load(sys.stdin)
if what["unicode"]:
    charmap.charmap()
    for codec in what["codecs"]:
        charmap.intervals_from_codec(codec)
for path in what["modules"]:
    module = types.ModuleType("kharness_cached_module")
    module.__file__ = path
    constants_from_module(module)
"""

# The codecs the suites' strategies draw from: from_regex and text() default to utf-8.
CODECS = ("utf-8",)


class CacheError(RuntimeError):
    """hypothesis failed to compute its caches on the host."""


def storage_files(*, unicode: bool = False, modules: list[str] = ()) -> dict[str, bytes]:
    """{image path: bytes} of the storage directory hypothesis writes for the Unicode tables (when `unicode`)
    and for the constants of each module file in `modules`; empty when hypothesis is not installed."""
    try:
        import hypothesis  # noqa: F401 (only whether it is there; the work happens in a child)
    except ImportError:
        return {}
    with tempfile.TemporaryDirectory(prefix="kharness-hypothesis-") as tmp:
        env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": tmp}
        request = json.dumps({"unicode": unicode, "codecs": list(CODECS), "modules": list(modules)})
        done = subprocess.run([sys.executable, "-c", _WARM], input=request, env=env, text=True,
                              capture_output=True)
        if done.returncode != 0:
            raise CacheError(f"computing hypothesis's caches with {sys.executable} failed "
                             f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}")
        root = Path(tmp)
        return {f"{GUEST_STORAGE}/{path.relative_to(root)}": path.read_bytes()
                for path in sorted(root.rglob("*"))
                if path.is_file() and path.relative_to(root).parts[0] != "tmp"}
