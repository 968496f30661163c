"""The host's reading of the arguments forwarded to pytest: which are test paths, which runtime they ask for."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# pytest's and the harness plugin's options that take a separate value: that value is never a test path
# (`--runtime /usr/bin/crun` names a binary, `-k suites` an expression).
VALUE_OPTIONS = frozenset({
    "-k", "-m", "-p", "-o", "-c", "-W", "--runtime", "--sabotage", "--kharness-profile", "--test-timeout",
    "--inject-slowdown", "--deselect", "--ignore", "--ignore-glob", "--rootdir", "--confcutdir", "--basetemp",
    "--maxfail", "--tb", "--junitxml", "--override-ini", "--durations", "--log-level", "--benchmark-json",
    "--benchmark-compare", "--benchmark-storage", "--benchmark-save", "--benchmark-min-rounds",
    "--benchmark-max-time", "--benchmark-sort", "--benchmark-group-by", "--benchmark-columns",
    "--hypothesis-seed", "--hypothesis-profile",
})

BUILT_IN_RUNTIMES = ("bundled", "bundled-cli")
REFERENCE_RUNTIMES = ("runc", "crun")
ALL_RUNTIMES = BUILT_IN_RUNTIMES + REFERENCE_RUNTIMES  # what --runtime all means


def split_paths(args: list[str], root: Path = PROJECT_ROOT) -> tuple[list[str], list[str]]:
    """(test paths, other arguments): a path is a positional argument naming a file or directory of the
    project (`suites/test_ns_pid.py::test_x` counts), never an option's value nor a path outside the project."""
    paths, rest = [], []
    previous = ""
    for arg in args:
        is_value = previous in VALUE_OPTIONS
        previous = arg
        candidate = arg.split("::")[0]
        if not is_value and not arg.startswith("-") and candidate and not os.path.isabs(candidate) \
                and (root / candidate).exists() and (root / candidate).resolve().is_relative_to(root):
            paths.append(arg)
        else:
            rest.append(arg)
    return paths, rest


def requested_runtime(args: list[str], environ: dict) -> str | None:
    """The --runtime the guests' pytest will see: the last one of the arguments, else KHARNESS_RUNTIME."""
    chosen = environ.get("KHARNESS_RUNTIME")
    for i, arg in enumerate(args):
        if arg == "--runtime" and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith("--runtime="):
            chosen = arg.split("=", 1)[1]
    return chosen


def check_runtime(choice: str | None, packed: dict[str, Path]) -> None:
    """Refuse at once a runtime the guests cannot have: an unknown name, or runc/crun (by name or by path)
    that the image does not carry; `choice` may be a comma-separated list or "all" (harness.plugin).
    `packed`: name -> host path of the reference runtimes the image packs."""
    if choice == "all":
        choice = ",".join(ALL_RUNTIMES)
    if choice and "," in choice:
        for one in choice.split(","):
            if one.strip():
                check_runtime(one.strip(), packed)
        return
    if choice is None or choice in BUILT_IN_RUNTIMES:
        return
    install = "install it (`python -m harness setup --install`, or apt-get install {0})"
    if choice in REFERENCE_RUNTIMES:
        if choice not in packed:
            raise ValueError(f"--runtime {choice}: not installed on this host, so the guests cannot carry it; "
                             + install.format(choice))
        return
    if "/" in choice:
        if Path(choice) in packed.values() or Path(choice).resolve() in {p.resolve() for p in packed.values()}:
            return
        carried = ", ".join(str(p) for p in packed.values()) or "none"
        raise ValueError(f"--runtime {choice}: the guests carry only the host's runc and crun ({carried}); "
                         "give one of those paths, or a name: bundled, bundled-cli, runc, crun")
    raise ValueError(f"--runtime {choice!r}: unknown; expected bundled, bundled-cli, runc, crun or the path "
                     "of an installed runc or crun")
