"""Exceptions of the runtime: a bad config.json names its JSON path, a failed syscall names its call."""

import errno as errno_module
import os

# What SpecError prints for an error about the document as a whole (its path is "").
TOP_LEVEL = "(top level)"


class SpecError(ValueError):
    """A config.json field is unknown, missing, wrongly typed or invalid; `path` is like `process.rlimits[1].type`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path or TOP_LEVEL}: {self.message}"


def describe_errno(number: int) -> str:
    """Render an errno as `EINVAL (Invalid argument)`, or `errno 4095 (Unknown error 4095)` if unnamed."""
    name = errno_module.errorcode.get(number, f"errno {number}")
    return f"{name} ({os.strerror(number)})"


class SyscallError(OSError):
    """A system call failed: `syscall` is its name, `arguments` what it was called with, `errno` why."""

    def __init__(self, syscall: str, arguments: tuple, errno: int) -> None:
        super().__init__(errno, os.strerror(errno))
        self.syscall = syscall
        self.arguments = tuple(arguments)
        # OSError pickles and copies itself by calling type(self)(*self.args): keep our own signature there.
        self.args = (syscall, self.arguments, errno)

    def __str__(self) -> str:
        rendered = ", ".join(repr(argument) for argument in self.arguments)
        return f"{self.syscall}({rendered}) failed: {describe_errno(self.errno)}"


class ContainerError(RuntimeError):
    """A container operation cannot proceed: an unknown or existing id, a wrong status, a mount that escapes the
    rootfs, a failure inside the container's setup; the message names the container, file or JSON path."""
