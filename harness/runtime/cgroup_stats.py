"""Statistics of a container's cgroup: the v2 control files of each enabled controller, parsed into a dict."""

import os

from .cgroup_manager import Cgroup, parse_flat_keyed, read_file

# controller -> (single-value files, flat-keyed files): stats reports those the cgroup has.
_FILES = {
    "cpu": ((), ("cpu.stat",)),
    "memory": (("memory.current", "memory.max", "memory.low", "memory.peak", "memory.swap.current",
                "memory.swap.max"), ("memory.events", "memory.stat")),
    "pids": (("pids.current", "pids.max", "pids.peak"), ("pids.events",)),
    "cpuset": (("cpuset.cpus.effective", "cpuset.mems.effective"), ()),
}


def read_stats(cgroup: Cgroup) -> dict:
    """{"cgroup": path, "processes": [pid...], "cpu": {"stat": {...}}, "memory": {"current": N, "events": {...}},
    "pids": {"current": N, "max": "max"}, ...}

    Each controller's section holds its files without the controller prefix ("memory.events" -> "events");
    numbers are ints, "max" stays a string, cpuset lists stay strings, io.stat is {"MAJ:MIN": {"rbytes": N}}.
    cpu.stat is there even without the cpu controller: the kernel always accounts usage_usec.
    """
    stats: dict = {"cgroup": cgroup.path, "processes": cgroup.procs()}
    for controller, (single_files, keyed_files) in _FILES.items():
        section = {}
        for name in single_files:
            text = _read_optional(cgroup.file(name))
            if text is not None:
                section[name.split(".", 1)[1]] = _value(text.strip())
        for name in keyed_files:
            text = _read_optional(cgroup.file(name))
            if text is not None:
                section[name.split(".", 1)[1]] = parse_flat_keyed(text)
        if section:
            stats[controller] = section
    io_stat = _read_optional(cgroup.file("io.stat"))
    if io_stat is not None:
        stats["io"] = {"stat": parse_nested_keyed(io_stat)}
    return stats


def parse_nested_keyed(text: str) -> dict[str, dict[str, int]]:
    """ "KEY sub=value sub=value" lines (io.stat, io.max) as {KEY: {sub: value}}; "max" values stay strings."""
    result = {}
    for line in text.splitlines():
        key, *pairs = line.split()
        result[key] = {name: _value(value) for name, _, value in (pair.partition("=") for pair in pairs)}
    return result


def _value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _read_optional(path: str) -> str | None:
    if not os.path.exists(path):
        return None
    try:
        return read_file(path)
    except FileNotFoundError:
        return None  # the cgroup went away between the check and the read
