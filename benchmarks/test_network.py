"""Container networking cost: run of /bin/true with network `none` beside `bridge` (veth pair, addresses, routes,
lease, and the bridge made and removed with its only container), and a veth pair's creation and deletion alone.

Bridged rounds make and remove their bridge each time (one container per round, so the bridge goes with it):
the figure is what a lone bridged container costs from create to delete.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.containers import BundleFactory, make_runtime
from harness.runtime.network_spec import ANNOTATION

_ids = itertools.count()


@pytest.fixture(scope="module")
def network_bundles(as_root):
    """A /bin/true bundle per network mode, on one busybox rootfs."""
    work = Path(tempfile.mkdtemp(prefix="kharness-bench-net-"))
    os.chmod(work, 0o755)
    factory = BundleFactory(work / "bundles")
    bundles = {}
    for mode in ("none", "bridge"):
        config = factory.config(["/bin/true"])
        if mode == "bridge":
            config.setdefault("annotations", {})[ANNOTATION] = f"bridge:khb{secrets.token_hex(3)}"
        bundles[mode] = factory.bundle(config)
    yield bundles, work
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("network", ["none", "bridge"])
def test_container_run_by_network(benchmark, network_bundles, rounds, round_statuses, network):
    """create + start + wait + delete of /bin/true by the bundled runtime's library API, in network mode
    `none` (a fresh network namespace, lo up) or `bridge` (plus the veth pair, addresses, routes and bridge)."""
    bundles, work = network_bundles
    state = work / "state"
    state.mkdir(exist_ok=True)
    runtime = make_runtime("bundled", state)
    run = round_statuses.record(lambda: runtime.run(bundles[network], f"n{next(_ids)}").status)
    assert run() == 0, f"control: the {network} container did not run /bin/true"
    benchmark.pedantic(run, rounds=max(5, rounds // 3), warmup_rounds=1)
    benchmark.extra_info["network"] = network
    round_statuses.assert_all_succeeded(f"network {network}")


def test_veth_pair_creation(benchmark, as_root, rounds):
    """A veth pair added and deleted over rtnetlink (pyroute2), in a network namespace of the benchmark's own:
    the kernel's share of a bridged container's set-up and teardown."""
    from harness.runtime.netlink import link_index, route_socket
    from harness.runtime.syscalls import Syscalls
    from harness.runtime import constants as c
    names = (f"khv{secrets.token_hex(3)}", f"khp{secrets.token_hex(3)}")
    child = Syscalls().clone3(c.CLONE_NEWNET)
    if child.in_child:  # a process that holds a network namespace of its own until it is killed
        while True:
            os.pause()
    pid = child.pid
    try:
        with route_socket(pid) as ipr:
            def pair() -> None:
                ipr.link("add", ifname=names[0], kind="veth", peer=names[1])
                ipr.link("del", index=link_index(ipr, names[0]))
            pair()
            benchmark.pedantic(pair, rounds=rounds, warmup_rounds=1)
            assert link_index(ipr, names[0]) is None and link_index(ipr, names[1]) is None, "a veth end was left"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
