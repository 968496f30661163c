"""Noise thresholds: a default percent, overridden per benchmark name or fnmatch pattern (TOML file, CLI)."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

DEFAULT_THRESHOLD = 5.0
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "thresholds.toml"


class ThresholdError(ValueError):
    """A threshold file or --threshold-for argument is malformed; the message names the file and key."""


@dataclass(frozen=True)
class Thresholds:
    """`default` percent, and (pattern, percent) overrides in order: like .gitignore, the last match wins.

    A key with `*` or `?` is an fnmatch pattern (where `[...]` is a character class: write `[[]` for
    a literal `[`); any other key is an exact benchmark name, brackets included (`test_x[network]`).
    """

    default: float = DEFAULT_THRESHOLD
    overrides: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def for_benchmark(self, name: str) -> float:
        found = self.default
        for pattern, percent in self.overrides:
            if name == pattern or (_is_pattern(pattern) and fnmatchcase(name, pattern)):
                found = percent
        return found

    def with_overrides(self, more: list[tuple[str, float]]) -> Thresholds:
        return Thresholds(self.default, self.overrides + tuple(more))

    def with_default(self, percent: float) -> Thresholds:
        return Thresholds(_percent(percent, "default threshold"), self.overrides)


def _is_pattern(key: str) -> bool:
    return "*" in key or "?" in key


def _percent(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ThresholdError(f"{where}: expected a number of percent, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ThresholdError(f"{where}: expected a percent >= 0, got {value!r}")
    return float(value)


def parse(text: str, source: Path) -> list[tuple[str, float]]:
    """The [thresholds] table of a TOML text, in file order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - {"thresholds"}
    if unknown:
        raise ThresholdError(f"{source}: {sorted(unknown)[0]}: unknown key (expected a [thresholds] table)")
    table = data.get("thresholds", {})
    if not isinstance(table, dict):
        raise ThresholdError(f"{source}: thresholds: expected a table of pattern = percent")
    return [(pattern, _percent(value, f"{source}: thresholds.{pattern!r}")) for pattern, value in table.items()]


def load(path: Path | None = DEFAULT_FILE, default: float = DEFAULT_THRESHOLD) -> Thresholds:
    """The thresholds of a TOML file (none when path is None)."""
    base = Thresholds(_percent(default, "default threshold"))
    if path is None:
        return base
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ThresholdError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return base.with_overrides(parse(text, Path(path)))


def parse_cli(argument: str) -> tuple[str, float]:
    """PATTERN=PCT of --threshold-for (split at the last '=')."""
    pattern, sep, value = argument.rpartition("=")
    if not sep or not pattern:
        raise ThresholdError(f"--threshold-for {argument!r}: expected PATTERN=PCT, e.g. '*network*=10'")
    try:
        number = float(value.rstrip("%"))
    except ValueError:
        raise ThresholdError(f"--threshold-for {argument!r}: {value!r} is not a number of percent") from None
    return pattern, _percent(number, f"--threshold-for {argument!r}")
