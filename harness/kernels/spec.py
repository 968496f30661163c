"""The kernel matrix: parse vm-images/kernels.toml into validated, frozen specs."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MATRIX = Path(__file__).resolve().parents[2] / "vm-images" / "kernels.toml"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MatrixError(ValueError):
    """kernels.toml is malformed or names an unknown kernel; the message names the TOML path."""


@dataclass(frozen=True)
class PackageRef:
    """One Debian package pinned by name, version and sha256 of the .deb."""

    name: str
    version: str
    sha256: str

    @property
    def deb_name(self) -> str:
        # apt-get download names files name_version_arch.deb with ':' escaped as %3a
        return f"{self.name}_{self.version.replace(':', '%3a')}_amd64.deb"


@dataclass(frozen=True)
class KernelSpec:
    """A named kernel of the matrix: the packages that hold it and the release it boots as."""

    name: str
    release: str
    packages: tuple[PackageRef, ...]
    suite: str | None = None
    description: str = ""

    @property
    def cache_key(self) -> str:
        return f"{self.name}-{self.release}-{self.packages[0].sha256[:12]}"


@dataclass(frozen=True)
class Matrix:
    """Every kernel of kernels.toml and the names run by default."""

    kernels: dict[str, KernelSpec]
    default: tuple[str, ...]
    source: Path

    def get(self, name: str) -> KernelSpec:
        try:
            return self.kernels[name]
        except KeyError:
            known = ", ".join(sorted(self.kernels))
            raise MatrixError(
                f"unknown kernel {name!r}: {self.source} defines {known}; "
                "pass one of those names, or the path of a bzImage file"
            ) from None


def toml_path(name: str) -> str:
    """The TOML path of a kernel's table, quoted as TOML writes it: kernels."6.1"."""
    return f'kernels."{name}"' if not name.replace("_", "").replace("-", "").isalnum() else f"kernels.{name}"


def _require(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise MatrixError(f"{where}.{key}: missing")
    value = table[key]
    if not isinstance(value, kind):
        raise MatrixError(f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _package(table: object, where: str) -> PackageRef:
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: expected a table with name, version, sha256")
    unknown = set(table) - {"name", "version", "sha256"}
    if unknown:
        raise MatrixError(f"{where}.{sorted(unknown)[0]}: unknown key")
    sha = _require(table, "sha256", str, where).lower()
    if not _SHA256.match(sha):
        raise MatrixError(f"{where}.sha256: not a sha256 hex digest: {sha!r}")
    return PackageRef(_require(table, "name", str, where), _require(table, "version", str, where), sha)


def _kernel(name: str, table: object) -> KernelSpec:
    where = toml_path(name)
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: expected a table")
    unknown = set(table) - {"release", "packages", "suite", "description"}
    if unknown:
        raise MatrixError(f"{where}.{sorted(unknown)[0]}: unknown key")
    packages = _require(table, "packages", list, where)
    if not packages:
        raise MatrixError(f"{where}.packages: empty; name at least the package holding vmlinuz")
    refs = tuple(_package(p, f"{where}.packages[{i}]") for i, p in enumerate(packages))
    suite = table.get("suite")
    if suite is not None and not isinstance(suite, str):
        raise MatrixError(f"{where}.suite: expected str")
    return KernelSpec(
        name=name,
        release=_require(table, "release", str, where),
        packages=refs,
        suite=suite,
        description=str(table.get("description", "")),
    )


def parse_matrix(text: str, source: Path = Path("kernels.toml")) -> Matrix:
    """Parse the TOML text of a kernel matrix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - {"kernels", "default"}
    if unknown:
        raise MatrixError(f"{source}: {sorted(unknown)[0]}: unknown top-level key (expected kernels, default)")
    kernels_table = data.get("kernels")
    if not isinstance(kernels_table, dict) or not kernels_table:
        raise MatrixError(f"{source}: kernels: missing or empty table")
    try:
        kernels = {name: _kernel(name, table) for name, table in kernels_table.items()}
    except MatrixError as exc:
        raise MatrixError(f"{source}: {exc}") from None
    default = data.get("default", list(kernels))
    if not isinstance(default, list) or not all(isinstance(d, str) for d in default):
        raise MatrixError(f"{source}: default: expected a list of kernel names")
    for i, name in enumerate(default):
        if name not in kernels:
            raise MatrixError(f"{source}: default[{i}]: {name!r} is not a kernel of this file")
    return Matrix(kernels=kernels, default=tuple(default), source=source)


def load_matrix(path: Path = DEFAULT_MATRIX) -> Matrix:
    """Read and parse kernels.toml."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise MatrixError(f"{path}: cannot read the kernel matrix: {exc.strerror}") from None
    return parse_matrix(text, path)
