"""Which host files make the guest's Python: interpreter, pruned stdlib, needed distributions, project."""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Distributions the suites import inside the guest; their requirements are followed.
GUEST_DISTRIBUTIONS = ("pytest", "pytest-benchmark", "hypothesis", "pyroute2")

# Stdlib parts no suite imports: tests, GUI, packaging tools, the static library.
STDLIB_EXCLUDED_DIRS = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
    "site-packages", "__pycache__", "unittest/test", "distutils/tests", "ctypes/test", "sqlite3/test",
}
STDLIB_EXCLUDED_FILES = re.compile(r"(^_tkinter|^_test|^xx|^_xx|\.a$|\.pyc$|\.pyo$|\.exe$)")

PROJECT_PARTS = ("harness", "suites", "benchmarks", "conftest.py", "pyproject.toml", "vm-images")


class ImageSourceError(RuntimeError):
    """A file the image needs is not on the host."""


def interpreter() -> list[Path]:
    """The running interpreter: its path (a venv link chain) and the real binary behind it."""
    return [Path(sys.executable), Path(os.path.realpath(sys.executable))]


def stdlib_files() -> list[Path]:
    """The base interpreter's stdlib, lib-dynload included, without tests, GUI and build files."""
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "installed_base": sys.base_prefix})["stdlib"])
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        rel = os.path.relpath(dirpath, stdlib)
        dirnames[:] = [
            d for d in dirnames
            if d not in STDLIB_EXCLUDED_DIRS and os.path.normpath(os.path.join(rel, d)) not in STDLIB_EXCLUDED_DIRS
            and not d.startswith("config-")
        ]
        found += [Path(dirpath, f) for f in filenames if not STDLIB_EXCLUDED_FILES.search(f)]
    return found


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue  # optional extras are not installed on purpose
        if marker.strip():
            try:
                from packaging.markers import Marker  # pytest depends on packaging
                if not Marker(marker.strip()).evaluate():
                    continue
            except ImportError:
                pass
        names.append(re.split(r"[\s<>=!~\[(;]", spec.strip(), 1)[0])
    return names


def distribution_files(roots: tuple[str, ...] = GUEST_DISTRIBUTIONS) -> list[Path]:
    """Files of the given distributions and of everything they require, as recorded by pip."""
    seen: set[str] = set()
    todo = list(roots)
    files: list[Path] = []
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ImageSourceError(
                f"distribution {name!r} is not installed in {sys.prefix}; the guest needs it "
                "(run the harness from the tox env: `tox -e kernel`, or `pip install -e .`)"
            ) from None
        base = Path(dist.locate_file("")).resolve()
        for entry in dist.files or []:
            path = Path(dist.locate_file(entry)).resolve()
            if "__pycache__" in path.parts or path.suffix == ".pyc" or base not in path.parents:
                continue
            if path.is_file():
                files.append(path)
        todo += _requirement_names(dist)
    return files


def venv_files() -> list[Path]:
    """pyvenv.cfg of a virtual environment, which makes the venv's python find its site-packages."""
    if sys.prefix == sys.base_prefix:
        return []
    return [p for p in (Path(sys.prefix) / "pyvenv.cfg",) if p.is_file()]


def project_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """The project sources the guest runs: harness, suites, benchmarks, conftest, configuration."""
    found: list[Path] = []
    for part in PROJECT_PARTS:
        top = root / part
        if top.is_file():
            found.append(top)
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            found += [Path(dirpath, f) for f in filenames if not f.endswith((".pyc", ".log"))]
    return found
