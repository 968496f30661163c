"""Property: any valid uid/gid map shape is what the kernel shows in the namespace, and ids translate through it."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.containers import with_namespaces

USER_NS = ["user", "pid", "mount", "ipc", "uts", "network"]
HOST_FLOOR = 100000
SHOW = "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo ready; sleep 300"


@st.composite
def id_maps(draw) -> list[dict]:
    """1-3 ranges, disjoint on the container side (the first one starts at container id 0) and on the host side
    (all at or above 100000, laid out in an independent order)."""
    count = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 70000), min_size=count, max_size=count))
    container_gaps = draw(st.lists(st.integers(0, 100000), min_size=count, max_size=count))
    host_gaps = draw(st.lists(st.integers(0, 1000000), min_size=count, max_size=count))
    host_order = draw(st.permutations(range(count)))
    container_ids, next_id = [], 0
    for index, size in enumerate(sizes):
        container_ids.append(next_id)
        next_id += size + container_gaps[index]
    host_ids, next_host = [0] * count, HOST_FLOOR
    for gap, index in zip(host_gaps, host_order):
        host_ids[index] = next_host + gap
        next_host = host_ids[index] + sizes[index]
    return [{"containerID": c, "hostID": h, "size": s} for c, h, s in zip(container_ids, host_ids, sizes)]


@st.composite
def id_in(draw, mapping: list[dict]) -> tuple[int, int]:
    """A container id inside one of the ranges, and the host id the map translates it to."""
    extent = draw(st.sampled_from(mapping))
    offset = draw(st.integers(0, extent["size"] - 1))
    return extent["containerID"] + offset, extent["hostID"] + offset


@st.composite
def maps_and_ids(draw):
    uid_map, gid_map = draw(id_maps()), draw(id_maps())
    return uid_map, gid_map, draw(id_in(uid_map)), draw(id_in(gid_map))


def as_rows(mapping: list[dict]) -> list[tuple[int, int, int]]:
    return sorted((extent["containerID"], extent["hostID"], extent["size"]) for extent in mapping)


def printed_rows(text: str) -> list[tuple[int, int, int]]:
    """A map file's lines ("%10u %10u %10u" each), compared as integers."""
    return sorted(tuple(int(word) for word in line.split()) for line in text.splitlines() if line.strip())


def status_ids(status: str, name: str) -> list[int]:
    return [int(word) for word in re.search(rf"^{name}:\s+(.*)$", status, re.M).group(1).split()]


# `container` is function-scoped, so hypothesis shares it between examples: that is intended (each example starts
# its own container and kills it; the factory deletes them all at teardown).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(maps_and_ids())
def test_id_maps_are_applied_as_requested(container, example):
    """The kernel shows exactly the requested uid_map and gid_map inside the namespace, and a process running as
    container uid X / gid G appears on the host as hostID + (X - containerID), likewise for G."""
    uid_map, gid_map, (uid, host_uid), (gid, host_gid) = example
    config = with_namespaces(container.config(["sh", "-c", SHOW]), USER_NS)
    config["linux"]["uidMappings"], config["linux"]["gidMappings"] = uid_map, gid_map
    config["process"]["user"] = {"uid": uid, "gid": gid}
    # devpts' gid=5 needs gid 5 mapped, which a drawn gid map may not do: drop it, as `runc spec --rootless` does.
    for mount in config["mounts"]:
        if mount["type"] == "devpts":
            mount["options"] = [option for option in mount["options"] if option != "gid=5"]
    running = container.start(config=config)
    try:
        uid_text, _, gid_text = running.wait_output("ready").rpartition("ready")[0].partition("--")
        assert printed_rows(uid_text) == as_rows(uid_map)
        assert printed_rows(gid_text) == as_rows(gid_map)
        status = running.proc("status")
        assert status_ids(status, "Uid") == [host_uid] * 4
        assert status_ids(status, "Gid") == [host_gid] * 4
    finally:
        running.runtime.kill(running.cid)  # stopped now; the factory deletes it at teardown
