"""Kernel configs: parse a .config and check it against what the guests need (vm-images/kharness.config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

FRAGMENT = Path(__file__).resolve().parents[2] / "vm-images" / "kharness.config"

# What a group's class accepts (see the header of vm-images/kharness.config).
CLASSES = ("boot", "modules", "suites")

# The module each [modules] option builds: the ones harness/image/build.py packs and the guest loads
# (GUEST_MODULES, which the suites need, and OPTIONAL_GUEST_MODULES, the scratch disk's driver).
MODULE_OF = {
    "CONFIG_VETH": "veth",
    "CONFIG_BRIDGE": "bridge",
    "CONFIG_OVERLAY_FS": "overlay",
    "CONFIG_VIRTIO_PCI": "virtio_pci",
    "CONFIG_VIRTIO_BLK": "virtio_blk",
}
OPTIONAL_MODULES = frozenset({"virtio_pci", "virtio_blk"})

_SET = re.compile(r"(CONFIG_[A-Za-z0-9_]+)=(.*)")
_UNSET = re.compile(r"# (CONFIG_[A-Za-z0-9_]+) is not set")
_WORD = re.compile(r"-?[A-Za-z0-9_]+")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUP = re.compile(r"# \[([a-z]+)\] (.+)")


class KconfigError(ValueError):
    """A .config or fragment cannot be read or parsed; the message names the file and line."""


@dataclass(frozen=True)
class Requirement:
    """One option of the fragment: its name, the value asked for, its group's class and purpose."""

    name: str
    value: str
    kind: str
    purpose: str
    line: int

    @property
    def module(self) -> str | None:
        return MODULE_OF.get(self.name)


@dataclass(frozen=True)
class Finding:
    """How a config meets one requirement: verdict "ok", "module" (=m, modules not given) or "missing"."""

    requirement: Requirement
    actual: str | None
    verdict: str
    detail: str

    def line(self) -> str:
        """One line for the user: the option as the config has it, what it needs, and what needs it."""
        req = self.requirement
        state = " is absent" if self.actual is None else " is not set" if self.actual == "n" else f"={self.actual}"
        return f"{req.name}{state}: {self.detail} [{req.kind}: {req.purpose}]"


class AnyModule:
    """Stands for "the modules will be given at run time": every module counts as present."""

    def __contains__(self, name: object) -> bool:
        return True


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise KconfigError(f"{path}: a directory, not a config file") from None
    except OSError as exc:
        raise KconfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise KconfigError(f"{path}:{line}: not UTF-8 text: not a kernel .config") from None


def parse_config_text(text: str, where: str = ".config") -> dict[str, str]:
    """The options of a .config: "y", "m", "n" (for `# CONFIG_X is not set`), a number, or a quoted string
    (kept with its quotes). Any other non-comment line is an error naming where:line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        unset = _UNSET.fullmatch(line)
        if unset:
            values[unset.group(1)] = "n"
            continue
        if not line or line.startswith("#"):
            continue
        match = _SET.fullmatch(line)
        if not match:
            raise KconfigError(f"{where}:{number}: {raw[:60]!r} is neither CONFIG_NAME=VALUE nor a comment: "
                               "not a kernel .config")
        name, value = match.groups()
        if not (_WORD.fullmatch(value) or _STRING.fullmatch(value)):
            raise KconfigError(f"{where}:{number}: {name}={value[:40]}: the value is neither y/m/n, a number nor "
                               "a quoted string")
        values[name] = value
    if not values:
        raise KconfigError(f"{where}: no CONFIG_ line at all: not a kernel .config")
    return values


def config_path(path: Path) -> Path:
    """The .config of `path`: the file itself, or DIR/.config for a kernel build tree."""
    if path.is_dir():
        config = path / ".config"
        if not config.is_file():
            raise KconfigError(f"{path}: a directory without .config: not a configured kernel build tree "
                               "(run `make x86_64_defconfig` there first, or give the config file)")
        return config
    return path


def read_config(path: Path) -> dict[str, str]:
    """Parse a .config file, or the .config of a kernel build tree."""
    config = config_path(path)
    return parse_config_text(_read_text(config), str(config))


def parse_fragment_text(text: str, where: str = str(FRAGMENT)) -> list[Requirement]:
    """The requirements of a fragment: every CONFIG_X=VALUE line (and `# CONFIG_X is not set`: X must be off),
    with the class and purpose of the `# [CLASS] purpose` line that opens its group."""
    requirements: list[Requirement] = []
    kind = purpose = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        group = _GROUP.fullmatch(line)
        if group:
            kind, purpose = group.groups()
            if kind not in CLASSES:
                raise KconfigError(f"{where}:{number}: unknown class [{kind}]: expected one of "
                                   f"{', '.join(f'[{c}]' for c in CLASSES)}")
            continue
        # An option asked off is spelt as kconfig (and merge_config.sh) spell it: `# CONFIG_X is not set`.
        unset = _UNSET.fullmatch(line)
        if not unset and (not line or line.startswith("#")):
            continue
        match = unset or _SET.fullmatch(line)
        if not match:
            raise KconfigError(f"{where}:{number}: {raw[:60]!r} is not a CONFIG_NAME=VALUE line")
        if kind is None:
            raise KconfigError(f"{where}:{number}: {match.group(1)} comes before any '# [CLASS] purpose' line")
        name, value = (match.group(1), "n") if unset else match.groups()
        requirements.append(Requirement(name, value, kind, purpose, number))
    if not requirements:
        raise KconfigError(f"{where}: no CONFIG_NAME=VALUE line")
    return requirements


def load_fragment(path: Path = FRAGMENT) -> list[Requirement]:
    return parse_fragment_text(_read_text(path), str(path))


def _number(value: str) -> int | None:
    try:
        return int(value, 0)
    except ValueError:
        return None


def judge(req: Requirement, actual: str | None, modules: Collection[str] | None) -> Finding:
    """How the config's value `actual` (None: absent) meets `req`; `modules` are the module names available
    (None: not given, AnyModule(): will be given)."""
    wanted = _number(req.value)
    if wanted is not None:
        have = _number(actual) if actual is not None else None
        if have is not None and have >= wanted:
            return Finding(req, actual, "ok", "met")
        return Finding(req, actual, "missing", f"needs at least {req.value}")
    if actual == req.value:
        return Finding(req, actual, "ok", "met")
    if req.value == "n":
        if actual in (None, "m"):  # absent, or a module the guest never loads: off either way
            return Finding(req, actual, "ok", "met")
        return Finding(req, actual, "missing", "must be off (# ... is not set), or a module")
    if actual == "m" and req.value == "y":
        if req.module:
            if modules is None:
                return Finding(req, actual, "module", "give the module (--modules DIR, or a build tree that built "
                                                      "it), or build it in (=y)")
            if req.module in modules:
                return Finding(req, actual, "ok", f"module {req.module} given")
            return Finding(req, actual, "missing", f"module {req.module} is not among the modules given: build "
                                                   "it (make modules), or build it in (=y)")
        if req.kind == "boot":
            return Finding(req, actual, "missing", "must be =y: the guest needs it before it loads any module")
        return Finding(req, actual, "missing", "must be =y: the guest loads no module but veth, bridge, overlay, "
                                               "virtio_pci and virtio_blk")
    return Finding(req, actual, "missing", f"needs ={req.value}")


def check(config: dict[str, str], requirements: list[Requirement],
          modules: Collection[str] | None = None) -> list[Finding]:
    """Judge every requirement of the fragment against a parsed .config."""
    return [judge(req, config.get(req.name), modules) for req in requirements]


def summary(findings: list[Finding], config: str, fragment: str = "vm-images/kharness.config") -> str:
    """The final line: how many options were checked, met, left to modules, and missing (boot ones apart)."""
    count = {verdict: sum(f.verdict == verdict for f in findings) for verdict in ("ok", "module", "missing")}
    boot = sum(f.verdict == "missing" and f.requirement.kind == "boot" for f in findings)
    hint = " (give them with --modules)" if count["module"] else ""
    return (f"{config}: {len(findings)} options of {fragment} checked: {count['ok']} met, "
            f"{count['module']} built as modules{hint}, {count['missing']} missing ({boot} of them needed to boot)")
