"""Integration tests of bridged networks (network.py) with real netlink, as root on the running kernel.

The host's network namespace is never touched: each test's body is a Python script run by `unshare --net`, whose
fresh namespace (lo up, nothing else) plays the host. The "containers" are `unshare --net sleep 60` children of
that script, attached with network.attach and released with network.release; the script prints its findings as
JSON, which the test asserts on. Links, addresses, routes and rules are read with `ip -j` (iproute2, not the
pyroute2 under test); a container's side with `nsenter -t PID -n` (never /sys/class/net, which shows the
namespace sysfs was mounted in, not the caller's).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT_TIMEOUT_SECONDS = 180
BUSYBOX = "/bin/busybox"

# Run first in every script: helpers the test bodies use. The script's namespace is the "host".
PRELUDE = r'''
import json
import os
import shutil
import subprocess
import sys
import time

from harness.runtime import network
from harness.runtime.errors import ContainerError
from harness.runtime.network_leases import Leases
from harness.runtime.network_spec import network_config

WORK = sys.argv[1]
STATE = os.path.join(WORK, "state")  # the state root of the pretend runtime: a container is a directory in it
os.makedirs(STATE, exist_ok=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
children = []
result = {}


def sleeper():
    """A process in a network namespace of its own (a container's init), once it has left ours."""
    child = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    children.append(child)
    ours = os.stat("/proc/self/ns/net").st_ino
    deadline = time.monotonic() + 60
    while os.stat(f"/proc/{child.pid}/ns/net").st_ino == ours:
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"unshare --net sleep 60 (pid {child.pid}) never got a namespace of its own")
        time.sleep(0.01)
    return child


def container(container_id):
    """The container's state directory: without it, the next attach takes its lease for a stale one."""
    os.makedirs(os.path.join(STATE, container_id), exist_ok=True)


def bridged(bridge, mtu=None, mac=None):
    annotations = {"org.kharness.network": f"bridge:{bridge}"}
    if mtu is not None:
        annotations["org.kharness.network.mtu"] = str(mtu)
    if mac is not None:
        annotations["org.kharness.network.mac"] = mac
    return network_config(annotations)


def ip_json(*arguments, pid=None):
    """`ip -j ARGUMENTS` in our namespace, or in that of `pid`, decoded."""
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid is not None else []
    done = subprocess.run(prefix + ["ip", "-j", *arguments], capture_output=True, text=True, check=True)
    return json.loads(done.stdout or "[]")


def link_names():
    return sorted(link["ifname"] for link in ip_json("link", "show"))


def snapshot():
    """Our namespace's links (name, kind), addresses, routes of every table and policy rules, as sorted lists;
    and, apart, which links are administratively up."""
    links, up = [], []
    for link in ip_json("-d", "link", "show"):
        links.append([link["ifname"], link.get("linkinfo", {}).get("info_kind")])
        if "UP" in link.get("flags", []):
            up.append(link["ifname"])
    addresses = sorted([entry["ifname"], f"{address['local']}/{address['prefixlen']}", address.get("scope")]
                       for entry in ip_json("addr", "show") for address in entry.get("addr_info", []))
    routes = sorted([family, route.get("table", "main"), route.get("type", "unicast"), route.get("dst"),
                     route.get("gateway"), route.get("dev")]
                    for family in ("-4", "-6") for route in ip_json(family, "route", "show", "table", "all"))
    rules = sorted(json.dumps(rule, sort_keys=True) for family in ("-4", "-6") for rule in ip_json(family, "rule"))
    return {"links": sorted(links), "addresses": addresses, "routes": routes, "rules": rules, "up": sorted(up)}


def leftovers():
    """The networks and leases still on disk."""
    store = Leases()
    return [[n.bridge, [[lease.container, lease.host] for lease in store.leases(n)]] for n in store.networks()]


def ping(pid, address, attempts=3):
    """Whether `busybox ping` from the namespace of `pid` gets an answer from `address` (a few tries: a bridge
    port's carrier may come up just after the link does)."""
    command = ["nsenter", "-t", str(pid), "-n", "/bin/busybox", "ping", "-c1", "-W2", address]
    for _ in range(attempts):
        if subprocess.run(command, capture_output=True).returncode == 0:
            return True
    return False


def lease_fields(lease):
    return {"host": lease.host, "ipv4": lease.ipv4, "ipv6": lease.ipv6, "veth": lease.veth,
            "address": lease.address, "address6": lease.address6, "bridge": lease.bridge}

'''

EPILOGUE = r'''
finally:
    for child in children:
        child.kill()
        child.wait()
print("RESULT " + json.dumps(result))
'''


@functools.lru_cache(maxsize=None)
def unusable_reason() -> str | None:
    """Why these tests cannot run here, or None: they need root, unshare, nsenter, ip, busybox, pyroute2, and
    veth and bridge links (tried in a throwaway network namespace)."""
    if os.geteuid() != 0:
        return "bridged networks need root (network namespaces, links)"
    for program in ("unshare", "nsenter", "ip"):
        if shutil.which(program) is None:
            return f"no {program} on PATH"
    if not os.path.isfile(BUSYBOX):
        return f"no busybox at {BUSYBOX} (for ping)"
    if importlib.util.find_spec("pyroute2") is None:
        return "pyroute2 is not installed"
    probe = subprocess.run(["unshare", "--net", "sh", "-c",
                            "ip link add name khprobe0 type veth peer name khprobe1 && "
                            "ip link add name khprobebr type bridge"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"veth or bridge links cannot be made here (kernel modules?): {probe.stderr.strip()}"
    return None


@pytest.fixture(autouse=True)
def netlink_usable():
    """Skip, with the reason, where real veth pairs and bridges cannot be made in a network namespace."""
    reason = unusable_reason()
    if reason is not None:
        pytest.skip(reason)


def run_in_own_netns(tmp_path, body: str) -> dict:
    """Run PRELUDE + `body` (which fills the dict `result`) in a fresh network namespace, with the networks'
    store under tmp_path; `result` decoded. The script must exit 0; its stderr is shown when it does not."""
    script = tmp_path / "body.py"
    script.write_text(PRELUDE + "try:\n" + textwrap.indent(textwrap.dedent(body), "    ") + EPILOGUE)
    environment = dict(os.environ, PYTHONPATH=REPOSITORY, KHARNESS_NETWORK_ROOT=str(tmp_path / "networks"))
    done = subprocess.run(["unshare", "--net", sys.executable, str(script), str(tmp_path)], env=environment,
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_SECONDS)
    assert done.returncode == 0, f"the script exited {done.returncode}:\n{done.stderr[-4000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the script printed no result:\n{done.stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


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


def test_a_failed_set_up_on_a_bridge_that_existed_undoes_what_it_did(tmp_path):
    """When setting up a pre-existing bridge fails midway (here: adding the isolation rules), attach raises a
    ContainerError naming the bridge, and the addresses it had put on the bridge are gone again, with no network
    or lease left on disk."""
    result = run_in_own_netns(tmp_path, '''
        from harness.runtime.errors import ContainerError
        subprocess.run(["ip", "link", "add", "name", "khpre", "type", "bridge"], check=True)
        result["before"] = snapshot()

        def refused(ipr, net, verb):
            if verb == "add":
                raise OSError("rules refused on purpose")
        network._isolation_rules = refused
        child = sleeper()
        container("c1")
        try:
            network.attach(bridged("khpre"), STATE, "c1", child.pid)
            result["error"] = None
        except ContainerError as error:
            result["error"] = str(error)
        result["after"] = snapshot()
        result["on_disk_after"] = leftovers()
    ''')
    assert result["error"] is not None and "bridge:khpre" in result["error"] and "on purpose" in result["error"]
    assert [entry for entry in result["after"]["addresses"] if entry[0] == "khpre" and entry[2] != "link"] == []
    assert result["after"]["up"] == result["before"]["up"]
    assert result["on_disk_after"] == []


def test_a_bridge_deleted_under_its_containers_is_made_again_without_reusing_their_addresses(tmp_path):
    """If someone deletes a bridge while a container holds a lease on it, the next attach makes the bridge again
    on the same subnet and gives the new container the next address, never the live one's."""
    result = run_in_own_netns(tmp_path, '''
        first, second = sleeper(), sleeper()
        container("c1")
        container("c2")
        result["first"] = lease_fields(network.attach(bridged("khgone"), STATE, "c1", first.pid))
        subprocess.run(["ip", "link", "del", "khgone"], check=True)
        result["second"] = lease_fields(network.attach(bridged("khgone"), STATE, "c2", second.pid))
        result["links"] = link_names()
        network.release(STATE, "c1")
        network.release(STATE, "c2")
        result["on_disk_after"] = leftovers()
    ''')
    assert result["first"]["ipv4"] == "10.199.0.2/24"
    assert result["second"]["ipv4"] == "10.199.0.3/24", "the live container's address was handed out again"
    assert "khgone" in result["links"]
    assert result["on_disk_after"] == []


def test_a_network_left_without_a_lease_is_removed_by_the_next_release(tmp_path):
    """A runtime killed after it made a bridge but before it leased an address leaves a network with no lease;
    the next release (of any container) removes it: bridge, isolation rules and state."""
    result = run_in_own_netns(tmp_path, '''
        from harness.runtime.netlink import route_socket
        result["before"] = snapshot()
        store = Leases()
        with route_socket() as ipr, store.locked():
            network._network(store, ipr, "khorphan")
        result["during"] = snapshot()
        network.release(STATE, "someone-else")
        result["after"] = snapshot()
        result["on_disk_after"] = leftovers()
    ''')
    assert ["khorphan", "bridge"] in result["during"]["links"], "control: the orphaned bridge was not made"
    assert result["after"]["links"] == result["before"]["links"]
    assert result["after"]["rules"] == result["before"]["rules"]
    assert result["on_disk_after"] == []


def test_a_link_of_another_kind_with_the_bridges_name_is_refused(tmp_path):
    """A bridge name already taken by a link that is no bridge (a dummy, or a veth where the kernel has no dummy
    driver): attach raises ContainerError naming the link and its kind; the link stays, nothing is added (no
    veth, no address, no rule) and no network or lease is recorded."""
    result = run_in_own_netns(tmp_path, '''
        made = subprocess.run(["ip", "link", "add", "name", "khtaken", "type", "dummy"], capture_output=True)
        if made.returncode == 0:
            result["kind"] = "dummy"
        else:  # no dummy driver: any other kind of link will do
            subprocess.run(["ip", "link", "add", "name", "khtaken", "type", "veth", "peer", "name", "khtakenp"],
                           check=True)
            result["kind"] = "veth"
        result["before"] = snapshot()
        child = sleeper()
        container("c1")
        try:
            network.attach(bridged("khtaken"), STATE, "c1", child.pid)
            result["error"] = None
        except ContainerError as error:
            result["error"] = str(error)
        result["after"] = snapshot()
        result["inner_links"] = sorted(
            link["ifname"] for link in ip_json("link", "show", pid=child.pid))
        result["on_disk_after"] = leftovers()
    ''')
    kind = result["kind"]
    assert result["error"] is not None, "attach to a non-bridge link succeeded"
    assert f"a link named khtaken exists and is a {kind}, not a bridge" in result["error"]
    assert result["error"].startswith("network bridge:khtaken")
    assert result["after"] == result["before"]
    assert ["khtaken", kind] in result["after"]["links"]
    assert result["inner_links"] == ["lo"]
    assert result["on_disk_after"] == []


def test_a_stale_lease_is_cleaned_by_the_next_attach(tmp_path):
    """A container whose state directory was removed and whose process was killed, never released: the next
    attach drops its lease (its host number is free again) and its veth pair, and only the new lease remains."""
    result = run_in_own_netns(tmp_path, '''
        stale = sleeper()
        container("stale")
        old = network.attach(bridged("khstale"), STATE, "stale", stale.pid)
        result["old"] = lease_fields(old)
        result["on_disk_before"] = leftovers()
        shutil.rmtree(os.path.join(STATE, "stale"))
        stale.kill()
        stale.wait()
        fresh = sleeper()
        container("fresh")
        new = network.attach(bridged("khstale"), STATE, "fresh", fresh.pid)
        result["new"] = lease_fields(new)
        result["links"] = link_names()
        result["on_disk_after"] = leftovers()
        result["ping_gateway"] = ping(fresh.pid, "10.199.0.1")
        network.release(STATE, "fresh")
        result["on_disk_released"] = leftovers()
        result["links_released"] = link_names()
    ''')
    assert result["on_disk_before"] == [["khstale", [["stale", 2]]]]
    assert result["new"]["host"] == 2, "the stale lease's host was not freed"
    assert result["on_disk_after"] == [["khstale", [["fresh", 2]]]]
    assert result["old"]["veth"] not in result["links"]
    assert result["new"]["veth"] in result["links"]
    assert result["ping_gateway"], "the fresh container cannot ping its gateway"
    assert result["on_disk_released"] == []
    assert result["links_released"] == ["lo"]


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
