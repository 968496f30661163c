"""Shared by the security suites (test_security*.py): attempts that may be refused, the host-side reads, constants."""

from __future__ import annotations

import hashlib
from pathlib import Path


from harness.containers import Result
from harness.runtime.errors import ContainerError, SpecError

CLIMB = "../" * 24  # more ".." than any path here has components: from anywhere on the host, up to its "/"
REFUSED = -1  # Result.status of an attempt the runtime refused (create/run raised)
DEADLINE = 60.0  # seconds any single container of this module may run



def attempt(action, *args, **kwargs) -> Result:
    """Call a runtime action; a refusal (an exception from create/run, not a RecursionError) becomes a Result
    with status REFUSED and the error as stderr."""
    try:
        return action(*args, **kwargs)
    except RecursionError:
        raise
    except (ContainerError, SpecError, OSError, RuntimeError) as error:
        return Result(REFUSED, "", f"refused: {type(error).__name__}: {error}")


def start_unless_refused(container, host, config: dict, what: str):
    """The started container, or None when the runtime refused `config` (a pass: it is reported, and the host
    must be left clean)."""
    try:
        return container.start(config=config)
    except (ContainerError, SpecError, OSError, RuntimeError) as error:
        print(f"{what}: refused: {error}")
        host.assert_clean(container)
        return None


def output_of(result: Result) -> str:
    return result.stdout + result.stderr


def report(what: str, result: Result) -> None:
    """Say how an attack ended (captured by pytest: shown with -rA and kept in the JUnit XML)."""
    if result.status == REFUSED:
        print(f"{what}: {result.stderr.strip()[-400:]}")
    else:
        print(f"{what}: exit {result.status}\n  stdout: {result.stdout.strip()[-1200:]}\n"
              f"  stderr: {result.stderr.strip()[-300:]}")


def status_field(pid: int | str, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise LookupError(f"/proc/{pid}/status has no {name}")


def start_time_of(pid: int | str) -> str | None:
    """Field 22 of /proc/PID/stat (start time in ticks); None if the process is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def mount_points(mountinfo: str) -> list[tuple[str, str]]:
    """(root within its filesystem, mount point) of every line of a mountinfo file."""
    return [(line.split()[3], line.split()[4]) for line in mountinfo.splitlines() if line.strip()]


def sha256(path: str) -> str:
    with open(path, "rb") as binary:
        return hashlib.file_digest(binary, "sha256").hexdigest()


def inner(runtime):
    """The runtime a --sabotage wrapper drives (or the runtime itself)."""
    return getattr(runtime, "inner", runtime)


def add_capability(config: dict, name: str) -> dict:
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        config["process"]["capabilities"].setdefault(key, [])
        if name not in config["process"]["capabilities"][key]:
            config["process"]["capabilities"][key].append(name)
    return config
