"""Bridged networks at scale: 16 concurrent creates on one bridge, and a property over any 1-16 containers on 1-3
bridges: reachability is exactly "on the same bridge", and afterwards the host's network is as it was."""

from __future__ import annotations

import os
import threading

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.containers import BundledRuntime, SabotagedRuntime

from .conftest import ContainerFactory
from .net_support import bridge_name, bridged, forwarding_on, host_network, lease, network_leftovers, reachability, \
    tcp_listener

# Examples of the property beyond the explicit 16-container one: each boots up to 16 containers (seconds each under
# TCG), so CI keeps a few; KHARNESS_NETWORK_EXAMPLES asks for more.
NETWORK_EXAMPLES = int(os.environ.get("KHARNESS_NETWORK_EXAMPLES", "3"))
CONCURRENT = 16


def create_concurrently(factory: ContainerFactory, configs: list[dict]) -> list[str]:
    """Create one container per config, all at once: forked processes for the library API (a create forks, which
    a thread of a multi-threaded process should not), threads for a CLI runtime. The ids, in config order."""
    ids = [factory.new_id() for _ in configs]
    bundles = [factory.bundles.bundle(config) for config in configs]
    runtime = factory.runtime.inner if isinstance(factory.runtime, SabotagedRuntime) else factory.runtime
    errors: dict[str, str] = {}
    if isinstance(runtime, BundledRuntime):
        pids = []
        for cid, bundle in zip(ids, bundles):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    factory.runtime.create(bundle, cid, factory.workdir / f"{cid}.out")
                    code = 0
                except BaseException as error:  # noqa: BLE001 - the parent reads it from the file
                    (factory.workdir / f"{cid}.error").write_text(f"{type(error).__name__}: {error}")
                finally:
                    os._exit(code)
            pids.append(pid)
        for cid, pid in zip(ids, pids):
            if os.waitpid(pid, 0)[1] != 0:
                path = factory.workdir / f"{cid}.error"
                errors[cid] = path.read_text() if path.exists() else "the creating process died"
    else:
        def create(cid, bundle):
            try:
                factory.runtime.create(bundle, cid, factory.workdir / f"{cid}.out")
            except Exception as error:  # noqa: BLE001 - named in the assertion below
                errors[cid] = f"{type(error).__name__}: {error}"
        threads = [threading.Thread(target=create, args=pair) for pair in zip(ids, bundles)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Deleted at teardown either way; a failed one may have left nothing to delete.
    factory.started.extend(cid for cid in ids if cid not in errors)
    factory.failed.extend(errors)
    assert not errors, f"{len(errors)} of {len(ids)} concurrent creates failed: {errors}"
    return ids


def pids_of(runtime, ids: list[str]) -> dict[str, int]:
    return {cid: int(runtime.state(cid)["pid"]) for cid in ids}


def test_sixteen_concurrent_creates_on_one_bridge_get_distinct_addresses_and_all_reach_each_other(
        container, runtime, record_testsuite_property):
    """16 containers created at the same moment on one bridge hold 16 distinct IPv4 and IPv6 addresses, and a TCP
    connect from the first one's network namespace reaches a listener in every one of them, and so does the host's."""
    bridge = bridge_name()
    ids = create_concurrently(container, [bridged(container.config(["sleep", "600"]), bridge)
                                          for _ in range(CONCURRENT)])
    leases = {cid: lease(runtime, cid) for cid in ids}
    ipv4 = [held.address for held in leases.values()]
    assert len(set(ipv4)) == CONCURRENT, f"duplicate IPv4 addresses among {sorted(ipv4)}"
    ipv6 = [held.address6 for held in leases.values() if held.address6 is not None]
    assert len(set(ipv6)) == len(ipv6), f"duplicate IPv6 addresses among {sorted(ipv6)}"
    record_testsuite_property("net_concurrent_addresses",
                              f"{len(set(ipv4))} distinct IPv4, {len(set(ipv6))} distinct IPv6 of {CONCURRENT}")
    pids = pids_of(runtime, ids)
    listeners = [tcp_listener(pid) for pid in pids.values()]
    try:
        targets = {cid: (leases[cid].address, server.getsockname()[1]) for cid, server in zip(ids, listeners)}
        outcome = reachability({"first": pids[ids[0]], "host": os.getpid()}, targets)
    finally:
        for server in listeners:
            server.close()
    unreachable = sorted((source, target, code) for (source, target), code in outcome.items() if code != 0)
    assert not unreachable, f"not reachable on bridge {bridge} (source, container, errno): {unreachable}"


@settings(max_examples=NETWORK_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@example(layout=[0, 1, 2] * 5 + [0])  # the largest case: 16 containers over 3 bridges
@example(layout=[0, 0, 1])  # the smallest with both outcomes: a pair that must connect, two pairs that must not
@given(layout=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=CONCURRENT))
def test_reachability_is_exactly_same_bridge_and_teardown_restores_the_host(runtime, bundles, workdir,
                                                                           record_testsuite_property, layout):
    """Containers i and j (layout[i] names the bridge of container i) reach each other over TCP exactly when they
    share a bridge; after every container is deleted, the host's links, addresses and routes equal those before
    and no lease or network is left."""
    before, leftovers = host_network(), network_leftovers()
    factory = ContainerFactory(runtime, bundles, workdir)
    names = {index: bridge_name() for index in set(layout)}
    try:
        ids = []
        for index in layout:
            ids.append(factory.start(config=bridged(factory.config(["sleep", "600"]), names[index])).cid)
        pids = pids_of(runtime, ids)
        listeners = [tcp_listener(pid) for pid in pids.values()]
        try:
            targets = {cid: (lease(runtime, cid).address, server.getsockname()[1]) for cid, server in
                       zip(ids, listeners)}
            with forwarding_on():  # only the runtime's isolation rules may keep the bridges apart
                outcome = reachability(pids, targets)
        finally:
            for server in listeners:
                server.close()
        bridge_of = dict(zip(ids, layout))
        wrong = sorted((bridge_of[source], bridge_of[target], "reached" if code == 0 else "unreachable")
                       for (source, target), code in outcome.items()
                       if (code == 0) != (bridge_of[source] == bridge_of[target]))
        assert not wrong, f"reachability differs from 'same bridge' for (bridge, bridge, outcome): {wrong}"
    finally:
        factory.cleanup()
    after = host_network()
    for key in ("links", "addresses", "routes", "rules"):
        assert after[key] == before[key], (f"after teardown the host's {key} differ: added "
                                          f"{sorted(after[key] - before[key])}, "
                                          f"removed {sorted(before[key] - after[key])}")
    assert network_leftovers() == leftovers, f"left in the lease store: {network_leftovers()}"
    # In the JUnit XML, per example: what was compared (the closing figures of a run come from here).
    compared = ", ".join(f"{key} {len(before[key])}/{len(after[key])}"
                         for key in ("links", "addresses", "routes", "rules"))
    record_testsuite_property("net_property_host_before_after",
                              f"{len(layout)} containers on {len(names)} bridges: {compared}")
