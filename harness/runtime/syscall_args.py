"""How the seam's arguments print in SyscallErrors and test diffs: flag bits and constants by name, modes in octal."""

from . import constants as c


class Flags(int):
    """An int that prints as the names of its bits (`MS_BIND|MS_REC`), so a SyscallError reads like C."""

    def __new__(cls, value: int, names: dict[int, str]) -> "Flags":
        flags = super().__new__(cls, value)
        flags.names = names
        return flags

    def __getnewargs__(self) -> tuple:
        return (int(self), self.names)

    def __repr__(self) -> str:
        remaining = int(self)
        parts = []
        for bit, name in self.names.items():
            if remaining & bit == bit:
                parts.append(name)
                remaining &= ~bit
        if remaining:
            parts.append(hex(remaining))
        return "|".join(parts) or "0"


class Constant(int):
    """An int that prints as its name (`PR_SET_NO_NEW_PRIVS`) when it has one."""

    def __new__(cls, value: int, names: dict[int, str]) -> "Constant":
        constant = super().__new__(cls, value)
        constant.names = names
        return constant

    def __getnewargs__(self) -> tuple:
        return (int(self), self.names)

    def __repr__(self) -> str:
        return self.names.get(int(self), str(int(self)))


class Octal(int):
    """An int that prints in octal (`0o755`), for file modes."""

    def __repr__(self) -> str:
        return oct(self)


class Hex(int):
    """An int that prints in hex, for capability masks."""

    def __repr__(self) -> str:
        return hex(self)


_AT_FDCWD = Constant(c.AT_FDCWD, {c.AT_FDCWD: "AT_FDCWD"})


def dirfd_argument(fd: int) -> int:
    """A directory fd argument of an *at call: AT_FDCWD by name, any other fd as its number (a plain int prints so)."""
    return _AT_FDCWD if fd == c.AT_FDCWD else fd


# Flags and Octal arguments made by the seam's file and mount calls, by (class, value, table id): those calls are
# made a hundred times per container start, and building each argument anew cost more than the call itself.
_MADE: dict[tuple, int] = {}


def flags(value: int, names: dict[int, str]) -> Flags:
    """Flags(value, names), shared between calls (the objects are immutable ints); `names` must be a module constant."""
    try:
        return _MADE[Flags, value, id(names)]
    except KeyError:
        made = _MADE[Flags, value, id(names)] = Flags(value, names)
        return made


def octal(mode: int) -> Octal:
    """Octal(mode), shared between calls."""
    try:
        return _MADE[Octal, mode, 0]
    except KeyError:
        made = _MADE[Octal, mode, 0] = Octal(mode)
        return made
