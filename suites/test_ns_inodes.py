"""/proc/self/ns inodes: exactly the namespace types in the spec are new; every other type is shared."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import features
from harness.containers import with_namespaces

# OCI type -> /proc/self/ns name
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}


def available_types() -> list[str]:
    kinds = [k for k in PROC_NAMES if os.path.exists(f"/proc/self/ns/{PROC_NAMES[k]}")]
    return kinds


def host_inodes() -> dict[str, str]:
    return {k: os.readlink(f"/proc/self/ns/{PROC_NAMES[k]}") for k in available_types()}


def effective_kinds(kinds) -> list[str]:
    """The types to unshare: always mount (pivot_root needs it); pid along with user, because the
    kernel lets a user namespace mount proc only for a pid namespace it owns."""
    kinds = {"mount", *[k for k in kinds if k in available_types()]}
    if "user" in kinds:
        kinds.add("pid")
    return sorted(kinds)


def container_inodes(container, kinds: list[str]) -> dict[str, str]:
    names = " ".join(PROC_NAMES[k] for k in available_types())
    # /proc/self/ns/pid is the process's own pid namespace (pid_for_children is not read).
    script = f"for n in {names}; do readlink /proc/self/ns/$n; done"
    config = with_namespaces(container.config(["sh", "-c", script]), kinds)
    # sysfs, cgroup2 and mqueue need the user namespace to own the net, cgroup and ipc namespaces;
    # this test reads none of them, so it leaves them out and lets those types vary freely.
    config["mounts"] = [m for m in config["mounts"]
                        if not m["destination"].startswith(("/sys", "/dev/mqueue"))]
    out = container.run(config=config).check().stdout.split()
    # One line per type, in order: a missing line would shift every inode onto the wrong type, or (zip stopping
    # at the shorter list) drop the last types from every comparison below.
    types = available_types()
    assert len(out) == len(types), (f"the container printed {len(out)} namespace links for {len(types)} types "
                                    f"({' '.join(types)}): {out}")
    return dict(zip(types, out, strict=True))


@pytest.mark.parametrize("kind", sorted(PROC_NAMES))
def test_each_type_alone_is_new_and_the_rest_shared(container, kind):
    """With the mount namespace plus one more type, only those inodes differ from the host's."""
    if kind not in available_types():
        pytest.skip(features.skip_reason("time_namespace") if kind == "time" else f"no {kind} namespace")
    kinds = effective_kinds([kind])
    inside, host = container_inodes(container, kinds), host_inodes()
    for k, inode in inside.items():
        if k in kinds:
            assert inode != host[k], f"{k} namespace was not unshared"
        else:
            assert inode == host[k], f"{k} namespace was unshared but not asked for"


@given(st.sets(st.sampled_from(["pid", "network", "ipc", "uts", "user", "cgroup", "time"])))
def test_any_subset_of_types_is_unshared_exactly(container, extra):
    """Property: for any subset of types (plus mount), exactly those differ from the host's inodes."""
    kinds = effective_kinds(extra)
    inside, host = container_inodes(container, kinds), host_inodes()
    differing = sorted(k for k in inside if inside[k] != host[k])
    assert differing == kinds
