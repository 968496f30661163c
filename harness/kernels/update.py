"""`python -m harness kernels update`: pin the newest packaged release of each kernel's series in kernels.toml."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from .series import PointRelease, list_series
from .spec import DEFAULT_MATRIX, KernelSpec, Matrix, MatrixError, load_matrix, parse_matrix, toml_path


@dataclass(frozen=True)
class Change:
    """One kernel's pin: as kernels.toml has it, and the newest release its suite carries."""

    old: KernelSpec
    new: PointRelease

    @property
    def changed(self) -> bool:
        return self.old.release != self.new.release or self.old.packages != self.new.packages

    def lines(self) -> list[str]:
        """What changes, package by package: name, version and sha256 before and after."""
        if not self.changed:
            return [f"{self.old.name}: {self.old.release} is the newest of its series in {self.old.suite}"]
        out = [f"{self.old.name}: {self.old.release} -> {self.new.release}"]
        for before, after in zip(self.old.packages, self.new.packages):
            out.append(f"  - {before.name} {before.version} sha256 {before.sha256}")
            out.append(f"  + {after.name} {after.version} sha256 {after.sha256}")
        return out


def _section(text: str, name: str) -> tuple[int, int]:
    """Start and end offsets of the table [kernels."NAME"] in kernels.toml's text."""
    header = re.compile(r"^\[\s*" + re.escape(toml_path(name)) + r"\s*\]\s*$", re.M)
    match = header.search(text)
    if not match:
        raise MatrixError(f"[{toml_path(name)}]: no such table header in the file (is it written inline?)")
    following = re.compile(r"^\[", re.M).search(text, match.end())
    return match.start(), following.start() if following else len(text)


def rewrite(text: str, change: Change) -> str:
    """kernels.toml's text with one kernel's release, package names, versions and sha256 replaced in place
    (comments and layout kept); checked by parsing the result."""
    start, end = _section(text, change.old.name)
    body = text[start:end]
    for before, after in zip(change.old.packages, change.new.packages):
        body = body.replace(f'"{before.sha256}"', f'"{after.sha256}"', 1)
        body = body.replace(f'"{before.name}"', f'"{after.name}"', 1)
        body = re.sub(r'(name\s*=\s*"' + re.escape(after.name) + r'"\s*,\s*version\s*=\s*)"' +
                      re.escape(before.version) + '"', lambda m: m.group(1) + f'"{after.version}"', body, count=1)
    body = body.replace(f'"{change.old.release}"', f'"{change.new.release}"', 1)
    result = text[:start] + body + text[end:]
    got = parse_matrix(result).kernels[change.old.name]
    if (got.release, got.packages) != (change.new.release, change.new.packages):
        raise MatrixError(f"[{toml_path(change.old.name)}]: could not rewrite the pin in place "
                          "(keep release, and each package's name, version, sha256 as plain strings)")
    return result


def plan(matrix: Matrix, names: list[str], state_root: Path, log=print) -> list[Change]:
    """The newest point release of each named kernel's series (every kernel of the matrix by default)."""
    changes = []
    for name in names or list(matrix.kernels):
        spec = matrix.get(name)
        releases = list_series(spec, state_root, log=log)
        if not releases:
            raise MatrixError(f"{toml_path(name)}: suite {spec.suite} carries no complete release of its series")
        changes.append(Change(spec, releases[-1]))
    return changes


def update(path: Path, names: list[str], state_root: Path, dry_run: bool = False, log=print) -> int:
    """Show each pin's change and the diff of kernels.toml, then write it (unless dry_run); 0 when done."""
    matrix = load_matrix(path)
    changes = plan(matrix, names, state_root, log=log)
    text = path.read_text()
    new_text = text
    for change in changes:
        for line in change.lines():
            log(line)
        if change.changed:
            new_text = rewrite(new_text, change)
    if new_text == text:
        log(f"{path}: every pin is the newest release of its series; nothing to change")
        return 0
    for line in difflib.unified_diff(text.splitlines(), new_text.splitlines(), str(path), f"{path} (updated)",
                                     lineterm=""):
        log(line)
    if dry_run:
        log(f"--dry-run: {path} left as it was")
        return 0
    path.write_text(new_text)
    matrix = "" if path == DEFAULT_MATRIX else f" --matrix {path}"
    log(f"wrote {path}; `python -m harness kernels --fetch{matrix}` downloads and checks the new packages")
    return 0
