"""Integration tests of bridged networks (network.py) with real netlink, as root on the running kernel.

The host's network namespace is never touched: each test's body is a Python script run by `unshare --net`, whose
fresh namespace (lo up, nothing else) plays the host. The "containers" are `unshare --net sleep 60` children of
that script, attached with network.attach and released with network.release; the script prints its findings as
JSON, which the test asserts on. Links, addresses, routes and rules are read with `ip -j` (iproute2, not the
pyroute2 under test); a container's side with `nsenter -t PID -n` (never /sys/class/net, which shows the
namespace sysfs was mounted in, not the caller's).
"""

from __future__ import annotations

import pytest

from harness.runtime.netns_script import netlink_usable, run_in_own_netns  # noqa: F401 - netlink_usable: the fixture used below

pytestmark = pytest.mark.usefixtures("netlink_usable")


def test_two_containers_on_one_bridge_get_their_addresses_and_reach_each_other(tmp_path):
    """Two processes attached to one new bridge: distinct leases (hosts 2 and 3), eth0 inside each with the
    configured MTU and MAC, up, holding its lease's addresses, a default route via the bridge; each pings the
    other. After both are released the "host" namespace's links, addresses, routes and rules are as before,
    the bridge is gone and no network or lease is left on disk."""
    result = run_in_own_netns(tmp_path, '''
        result["before"] = snapshot()
        first, second = sleeper(), sleeper()
        leases = []
        for name, child, mac in (("one", first, "02:42:ac:11:00:0a"), ("two", second, "02:42:ac:11:00:0b")):
            container(name)
            lease = network.attach(bridged("khtwo", mtu=1400, mac=mac), STATE, name, child.pid)
            leases.append(lease_fields(lease))
        result["leases"] = leases
        result["eth0"] = [ip_json("-d", "link", "show", "eth0", pid=child.pid)[0] for child in (first, second)]
        result["eth0_addresses"] = [
            sorted(f"{a['local']}/{a['prefixlen']}" for a in ip_json("addr", "show", "eth0", pid=child.pid)[0]
                   ["addr_info"] if a.get("scope") == "global") for child in (first, second)]
        result["inner_links"] = [sorted(link["ifname"] for link in ip_json("link", "show", pid=child.pid))
                                 for child in (first, second)]
        result["default_routes"] = [ip_json("route", "show", "default", pid=child.pid) for child in (first, second)]
        result["default_routes6"] = [ip_json("-6", "route", "show", "default", pid=child.pid)
                                     for child in (first, second)]
        result["host_ends"] = {lease["veth"]: ip_json("-d", "link", "show", lease["veth"])[0] for lease in leases}
        result["during"] = snapshot()
        result["on_disk_during"] = leftovers()
        result["ping"] = [ping(first.pid, leases[1]["address"]), ping(second.pid, leases[0]["address"])]
        if leases[0]["address6"] is not None:
            result["ping6"] = [ping(first.pid, leases[1]["address6"]), ping(second.pid, leases[0]["address6"])]
        released = [network.release(STATE, name) for name in ("one", "two")]
        result["released"] = [[lease.host for lease in found] for found in released]
        result["after"] = snapshot()
        result["on_disk_after"] = leftovers()
        result["released_again"] = [lease.host for lease in network.release(STATE, "one")]
    ''')
    first, second = result["leases"]
    assert (first["host"], second["host"]) == (2, 3)
    assert (first["ipv4"], second["ipv4"]) == ("10.199.0.2/24", "10.199.0.3/24")
    assert first["veth"] != second["veth"]
    assert result["on_disk_during"] == [["khtwo", [["one", 2], ["two", 3]]]]
    for eth0, mac in zip(result["eth0"], ("02:42:ac:11:00:0a", "02:42:ac:11:00:0b")):
        assert (eth0["ifname"], eth0["mtu"], eth0["address"], eth0["operstate"]) == ("eth0", 1400, mac, "UP")
        assert eth0["linkinfo"]["info_kind"] == "veth"
    for addresses, lease in zip(result["eth0_addresses"], (first, second)):
        assert addresses == sorted(address for address in (lease["ipv4"], lease["ipv6"]) if address is not None)
    assert result["inner_links"] == [["eth0", "lo"], ["eth0", "lo"]]
    for routes in result["default_routes"]:
        assert [(route["gateway"], route["dev"]) for route in routes] == [("10.199.0.1", "eth0")]
    if first["ipv6"] is not None:
        for routes in result["default_routes6"]:
            assert [(route["gateway"], route["dev"]) for route in routes] == [("fd6b:6861:7200::1", "eth0")]
    for veth, link in result["host_ends"].items():
        assert (link["master"], link["mtu"], link["linkinfo"]["info_kind"]) == ("khtwo", 1400, "veth"), veth
    assert ["khtwo", "bridge"] in result["during"]["links"]
    assert ["khtwo", "10.199.0.1/24", "global"] in result["during"]["addresses"]
    assert any('"iif": "khtwo"' in rule for rule in result["during"]["rules"]), "no isolation rule for khtwo"
    assert result["ping"] == [True, True], "the two containers on bridge khtwo cannot ping each other"
    if "ping6" in result:
        assert result["ping6"] == [True, True], "the two containers cannot ping each other over IPv6"
    assert result["released"] == [[2], [3]]
    assert result["released_again"] == []
    assert result["after"] == result["before"]
    assert "khtwo" not in [name for name, _ in result["after"]["links"]]
    assert result["on_disk_after"] == []


def test_a_bridge_that_existed_before_survives_its_last_container(tmp_path):
    """A bridge made beforehand (`ip link add NAME type bridge`) is used as it is and kept when its last
    container is released; the addresses the runtime put on it go, and so do the veth pair, the isolation rules
    and the network's state; and it is down again, as it was. (The IPv6 link-local address and routes the
    kernel gives a link while it is up are the kernel's, not the runtime's, and are not compared.)"""
    result = run_in_own_netns(tmp_path, '''
        subprocess.run(["ip", "link", "add", "name", "khpre", "type", "bridge"], check=True)
        result["before"] = snapshot()
        child = sleeper()
        container("c1")
        lease = network.attach(bridged("khpre"), STATE, "c1", child.pid)
        result["lease"] = lease_fields(lease)
        result["during"] = snapshot()
        result["network_during"] = json.load(open(os.path.join(Leases().root, "networks", "khpre", "network.json")))
        result["ping_gateway"] = ping(child.pid, "10.199.0.1")
        network.release(STATE, "c1")
        result["after"] = snapshot()
        result["on_disk_after"] = leftovers()
    ''')
    def kernels_own(state: dict) -> dict:
        """The snapshot without what the kernel adds to any up link (IPv6 link-local, multicast), nor up flags."""
        return {"links": state["links"],
                "addresses": [entry for entry in state["addresses"] if entry[2] != "link"],
                "routes": [route for route in state["routes"]
                           if not (route[3] in ("fe80::/64", "ff00::/8") and route[5] == "khpre")],
                "rules": state["rules"]}

    assert result["lease"]["ipv4"] == "10.199.0.2/24"
    assert result["network_during"]["created_bridge"] is False
    assert "10.199.0.1/24" in result["network_during"]["added_addresses"]
    assert ["khpre", "10.199.0.1/24", "global"] in result["during"]["addresses"]
    assert result["ping_gateway"], "the container cannot ping its gateway, the pre-existing bridge"
    assert ["khpre", "bridge"] in result["after"]["links"], "the pre-existing bridge was removed"
    assert [entry for entry in result["after"]["addresses"] if entry[0] == "khpre" and entry[2] != "link"] == []
    assert kernels_own(result["after"]) == kernels_own(result["before"])
    assert "khpre" in result["during"]["up"] and result["after"]["up"] == result["before"]["up"], \
        f"the bridge's up/down state was not restored: before {result['before']['up']}, after {result['after']['up']}"
    assert result["on_disk_after"] == []


def test_the_bundled_runtime_runs_a_bridged_container_and_leaves_no_link(tmp_path):
    """harness.containers' bundled runtime runs `sh -c "ip addr show eth0"` with org.kharness.network
    bridge:khit0: the output shows eth0 with 10.199.0.2, it exits 0, and once `run` returns no link, address,
    route, rule, network or lease is left behind."""
    result = run_in_own_netns(tmp_path, '''
        from pathlib import Path
        from harness.containers import BundleFactory, make_runtime
        factory = BundleFactory(Path(WORK) / "bundles")
        config = factory.config(["sh", "-c", "ip addr show eth0"])
        config["annotations"] = {"org.kharness.network": "bridge:khit0"}
        runtime = make_runtime("bundled", Path(WORK) / "runtime-state")
        result["before"] = snapshot()
        ran = runtime.run(factory.bundle(config), "netrun")
        result["status"], result["stdout"], result["stderr"] = ran.status, ran.stdout, ran.stderr
        result["after"] = snapshot()
        result["on_disk_after"] = leftovers()
        result["containers_left"] = os.listdir(Path(WORK) / "runtime-state")
    ''')
    assert result["status"] == 0, result["stderr"]
    assert "eth0" in result["stdout"]
    assert "inet 10.199.0.2/24" in result["stdout"], result["stdout"]
    assert result["after"] == result["before"]
    assert result["after"]["links"] == [["lo", None]]
    assert result["on_disk_after"] == []
    assert result["containers_left"] == []
