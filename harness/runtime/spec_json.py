"""Typed readers over a parsed config.json that raise SpecError naming the JSON path of the offending value."""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Iterable, Iterator, Mapping

from .errors import SpecError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

_SHOWN_VALUE_LENGTH = 60


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def join(path: str, key: str) -> str:
    """The path of `key` inside the object at `path`: `process.user`, or `linux.sysctl["net.ipv4.ip_forward"]`."""
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    """The path of element `index` of the array at `path`: `mounts[2]`."""
    return f"{path}[{index}]"


def show(value: Any) -> str:
    """A short JSON rendering of a bad value for an error message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[: _SHOWN_VALUE_LENGTH - 3] + "..."


def wrong_type(path: str, expected: str, value: Any) -> SpecError:
    return SpecError(path, f"expected {expected}, got {show(value)}")


def as_string(value: Any, path: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise wrong_type(path, "string", value)
    if non_empty and not value:
        raise SpecError(path, "must not be empty")
    return value


def as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise wrong_type(path, "boolean", value)
    return value


def as_int(value: Any, path: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A JSON integer within [minimum, maximum]; booleans and floats (even 1.0) are refused, as Go's decoder does."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(path, "integer", value)
    if not minimum <= value <= maximum:
        raise SpecError(path, f"{value} is out of range [{minimum}, {maximum}]")
    return value


def as_absolute_path(value: Any, path: str) -> str:
    text = as_string(value, path)
    if not os.path.isabs(text):
        raise SpecError(path, f"must be an absolute path, got {show(text)}")
    return text


def as_list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise wrong_type(path, "array", value)
    return value


def as_one_of(value: Any, path: str, choices: Iterable[str], what: str = "value") -> str:
    text = as_string(value, path)
    choices = list(choices)
    if text not in choices:
        raise SpecError(path, f"unknown {what} {show(text)}{did_you_mean(text, choices)}; expected one of "
                              + ", ".join(choices))
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # only on an error: the CLI pays every import on each start
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def items(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    """Each element of a JSON array with its own path."""
    for index, element in enumerate(as_list(value, path)):
        yield element, item(path, index)


def as_string_list(value: Any, path: str) -> tuple[str, ...]:
    return tuple(as_string(element, element_path) for element, element_path in items(value, path))


def as_absolute_path_list(value: Any, path: str) -> tuple[str, ...]:
    return tuple(as_absolute_path(element, element_path) for element, element_path in items(value, path))


def as_string_map(value: Any, path: str) -> Mapping[str, str]:
    """A JSON object of strings, returned read-only so the frozen record holding it stays immutable."""
    if not isinstance(value, dict):
        raise wrong_type(path, "object", value)
    for key, element in value.items():
        as_string(element, join(path, key))
    return types.MappingProxyType(dict(value))


_CPUSET = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def as_cpuset(value: Any, path: str) -> str:
    """A cpuset list like `0-2,4`: comma-separated numbers and ascending ranges."""
    text = as_string(value, path)
    if not _CPUSET.fullmatch(text):
        raise SpecError(path, f'invalid cpuset {show(text)}: expected a list like "0-2,4"')
    for part in text.split(","):
        low, _, high = part.partition("-")
        if high and int(low) > int(high):
            raise SpecError(path, f"invalid cpuset {show(text)}: range {part} runs backwards")
    return text


class JsonObject:
    """One JSON object of the config: refuses keys it does not know, hands out typed fields by key."""

    def __init__(self, value: Any, path: str, known: Iterable[str], unsupported: Iterable[str] = ()) -> None:
        """`known` keys are parsed by the caller; `unsupported` keys are valid OCI but not implemented here."""
        if not isinstance(value, dict):
            raise wrong_type(path, "object", value)
        self.value = value
        self.path = path
        known = set(known)
        unsupported = set(unsupported)
        for key in value:
            if key in unsupported:
                raise SpecError(join(path, key), "not supported by this runtime")
            if key not in known:
                raise SpecError(join(path, key), f"unknown field{did_you_mean(key, known)}")

    def path_of(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        # JSON null counts as absent, as it does for Go's pointer fields in runc.
        return self.value.get(key) is not None

    def get(self, key: str, required: bool = False) -> Any:
        if required and not self.has(key):
            raise SpecError(self.path_of(key), "required field is missing")
        return self.value.get(key)

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               non_empty: bool = False) -> str | None:
        if not self.has(key) and not required:
            return default
        return as_string(self.get(key, required), self.path_of(key), non_empty=non_empty)

    def boolean(self, key: str, default: bool = False) -> bool:
        return as_bool(self.value[key], self.path_of(key)) if self.has(key) else default

    def integer(self, key: str, default: int | None = None, *, required: bool = False,
                minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int | None:
        if not self.has(key) and not required:
            return default
        return as_int(self.get(key, required), self.path_of(key), minimum, maximum)

    def strings(self, key: str) -> tuple[str, ...]:
        return as_string_list(self.value[key], self.path_of(key)) if self.has(key) else ()

    def absolute_paths(self, key: str) -> tuple[str, ...]:
        return as_absolute_path_list(self.value[key], self.path_of(key)) if self.has(key) else ()

    def string_map(self, key: str) -> Mapping[str, str]:
        if not self.has(key):
            return types.MappingProxyType({})
        return as_string_map(self.value[key], self.path_of(key))

    def items(self, key: str) -> Iterator[tuple[Any, str]]:
        """Each element of the array field `key` with its path; nothing if the field is absent."""
        if self.has(key):
            yield from items(self.value[key], self.path_of(key))
