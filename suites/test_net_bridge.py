"""Bridged networks (org.kharness.network = bridge:NAME): eth0 as configured, reachability exactly within a bridge,
isolation from the host's links and loopback, and nothing left on the host afterwards.

Every "cannot reach" has its positive control: the same probe, from a container that must reach the target, so a
probe broken for another reason (no listener, no route, no capability) fails the test instead of passing it.
"""

from __future__ import annotations

import errno
import os
import socket

import pytest

from harness.containers import _bundled_cli, wait_for
from harness.runtime.network import lease_of
from harness.runtime.network_leases import veth_name

from .net_support import bridge_name, bridged, forwarding_on, host_network, in_netns, lease, link_exists, \
    network_leftovers, reachability, tcp_listener
from .test_ns_net import listening

PORT = 7001
ICMP = ("CAP_NET_RAW",)  # busybox ping opens a raw socket


@pytest.fixture
def clean_network(container):
    """The host's links, addresses and routes before the test; after it (and after its containers are deleted)
    they must be the same again, with no lease or network left in the lease store."""
    before = host_network()
    leftovers = network_leftovers()
    yield before
    container.cleanup()
    after = host_network()
    for key in ("links", "addresses", "routes", "rules"):
        assert after[key] == before[key], (f"the host's {key} changed: added {sorted(after[key] - before[key])}, "
                                          f"removed {sorted(before[key] - after[key])}")
    assert network_leftovers() == leftovers, f"left in the lease store: {network_leftovers()}"


def sleeper(container, bridge: str, **options):
    """A started container on `bridge` that only holds its namespaces (sleep), with its lease."""
    running = container.start(config=bridged(container.config(["sleep", "600"]), bridge, **options))
    return running, lease(container.runtime, running.cid)


def test_eth0_has_the_configured_mtu_mac_lease_and_default_route(container, clean_network):
    """Inside, eth0 has the MTU and MAC of the annotations, the IPv4 (and IPv6) address of the container's lease,
    and the default route goes through the bridge's address; lo is up, and there is no other link."""
    bridge = bridge_name()
    script = ("cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address; echo links:; ls /sys/class/net; "
              "echo :links; ip -o addr show dev eth0; ip route; ip -6 route; echo done")
    config = bridged(container.config(["sh", "-c", script]), bridge, mtu=1400, mac="02:42:ac:11:00:99")
    running = container.create(config=config)
    granted = lease(container.runtime, running.cid)
    container.runtime.start(running.cid)
    output = running.wait_output("done")
    lines = output.split("\n")
    assert lines[0] == "1400", f"eth0's MTU inside is {lines[0]!r}, the annotation asked for 1400"
    assert lines[1] == "02:42:ac:11:00:99", f"eth0's MAC inside is {lines[1]!r}, not the annotation's"
    links = lines[lines.index("links:") + 1:lines.index(":links")]
    assert sorted(links) == ["eth0", "lo"], f"links inside: {links}, expected eth0 and lo only"
    assert f"inet {granted.ipv4}" in output, f"eth0 lacks its lease's address {granted.ipv4}: {output}"
    gateway = granted.ipv4.rsplit(".", 1)[0] + ".1"
    assert f"default via {gateway} dev eth0" in output, f"no default route through the bridge ({gateway}): {output}"
    if granted.ipv6 is not None:
        assert f"inet6 {granted.ipv6}" in output, f"eth0 lacks its lease's IPv6 address {granted.ipv6}: {output}"
        assert "default via " + granted.ipv6.split("/")[0].rsplit(":", 1)[0] + ":1 dev eth0" in output, \
            f"no IPv6 default route through the bridge: {output}"
    assert link_exists(bridge), f"bridge {bridge} does not exist on the host while its container runs"


def test_two_containers_on_one_bridge_reach_each_other_over_tcp_udp_and_icmp(container, clean_network):
    """A container's nc connects to a listener in another on the same bridge (TCP), ping gets its echo reply (ICMP,
    IPv4 and IPv6), and a datagram goes from one's network namespace to the other's and back (UDP)."""
    bridge = bridge_name()
    server = container.start(config=bridged(container.config(
        ["sh", "-c", f"nc -l -p {PORT}; echo served; exec sleep 600"]), bridge))
    server_lease = lease(container.runtime, server.cid)
    wait_for(lambda: listening(server.pid, PORT), 60, what=f"nc listening in container {server.cid}")
    six = f"ping -6 -c1 -W5 {server_lease.address6}; " if server_lease.address6 else ""
    probe = (f"echo tcp-payload | nc -w 5 {server_lease.address} {PORT}; echo nc-exit $?; "
             f"ping -c1 -W5 {server_lease.address}; {six}echo probes-done; exec sleep 600")
    client = container.start(config=bridged(container.config(["sh", "-c", probe]), bridge, capabilities=ICMP))
    out = client.wait_output("probes-done")
    assert "nc-exit 0" in out, f"TCP from one container to the other on bridge {bridge} failed: {out}"
    assert "tcp-payload" in server.wait_output("served"), "the listener got no payload over TCP"
    assert out.count("1 packets received") == (2 if six else 1), f"ping over the bridge failed: {out}"
    receiver = in_netns(server.pid, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sender = in_netns(client.pid, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with receiver, sender:
        receiver.bind(("0.0.0.0", PORT + 1))
        receiver.settimeout(10)
        sender.settimeout(10)
        sender.sendto(b"udp-ping", (server_lease.address, PORT + 1))
        data, peer = receiver.recvfrom(64)
        receiver.sendto(b"udp-pong", peer)
        reply, _ = sender.recvfrom(64)
    assert (data, reply) == (b"udp-ping", b"udp-pong")
    assert peer[0] == lease(container.runtime, client.cid).address, f"the datagram came from {peer}, not eth0"


def test_containers_on_different_bridges_cannot_reach_each_other(container, clean_network):
    """With forwarding on in the host (as on a Docker host), a TCP connect and a ping from a container on another
    bridge get no answer, while the same probes from a container on the target's bridge succeed (the control)."""
    home, other = bridge_name(), bridge_name()
    target, target_lease = sleeper(container, home)
    neighbour, _ = sleeper(container, home)
    stranger, _ = sleeper(container, other)
    ping = f"ping -c1 -W3 {target_lease.address}; echo ping-exit $?"
    server = tcp_listener(target.pid)
    try:
        with forwarding_on():
            port = server.getsockname()[1]
            outcome = reachability({"neighbour": neighbour.pid, "stranger": stranger.pid},
                                   {"target": (target_lease.address, port)})
            control = container.run(config=bridged(container.config(["sh", "-c", ping]), home, capabilities=ICMP))
            across = container.run(config=bridged(container.config(["sh", "-c", ping]), other, capabilities=ICMP))
    finally:
        server.close()
    reached = outcome[("neighbour", "target")]
    assert reached == 0, f"control: a container on {home} could not connect to another: {errno.errorcode.get(reached)}"
    assert outcome[("stranger", "target")] != 0, f"a container on bridge {other} reached one on bridge {home}"
    assert "ping-exit 0" in control.stdout, f"control: ping on the same bridge failed: {control.stdout}"
    assert "ping-exit 1" in across.stdout, f"ping across bridges {other} -> {home}: {across.stdout}"


def test_listener_inside_is_reachable_on_its_address_but_not_on_the_hosts_loopback(container, clean_network):
    """The host's connect to 127.0.0.1:PORT is refused although the container listens on PORT on all its
    addresses; the host's connect to the container's bridge address and the same port succeeds (the control)."""
    running, granted = sleeper(container, bridge_name())
    server = tcp_listener(running.pid)
    try:
        port = server.getsockname()[1]
        with socket.socket() as probe:
            probe.settimeout(5)
            loopback = probe.connect_ex(("127.0.0.1", port))
        with socket.socket() as probe:
            probe.settimeout(5)
            bridged_address = probe.connect_ex((granted.address, port))
    finally:
        server.close()
    assert bridged_address == 0, f"control: the host could not connect to {granted.address}:{port}: " \
                                 f"{errno.errorcode.get(bridged_address)}"
    assert loopback == errno.ECONNREFUSED, \
        f"connect(127.0.0.1:{port}) from the host: {errno.errorcode.get(loopback, loopback)}, expected ECONNREFUSED"


def test_host_links_addresses_and_routes_are_invisible_and_unchangeable(container, clean_network):
    """With CAP_NET_ADMIN in its own network namespace, a container lists only lo and eth0, finds neither its
    bridge nor its veth's host end to change, sees none of the host's addresses, and what it adds or takes down
    stays inside (the fixture compares the host's links, addresses and routes before and after)."""
    bridge = bridge_name()
    cid = container.new_id()
    host_end = veth_name(str(container.runtime.state_root), cid)
    script = "; ".join([f"ip link set {name} down 2>&1; echo set-{name}-exit $?" for name in (bridge, host_end)]
                       + ["ip link set lo down; echo lo-exit $?", "ip addr add 10.123.0.1/32 dev eth0",
                          "ip route add 10.124.0.0/16 dev eth0", "ip -o link; ip -o addr; ip route; echo done"])
    result = container.run(config=bridged(container.config(["sh", "-c", script]), bridge,
                                          capabilities=("CAP_NET_ADMIN",)), cid=cid)
    output = result.stdout + result.stderr
    assert "done" in output, f"the container's script did not finish: {output}"
    assert "lo-exit 0" in output, f"control: CAP_NET_ADMIN could not take the container's own lo down: {output}"
    for name in (bridge, host_end):
        assert f"set-{name}-exit 0" not in output, f"`ip link set {name} down` inside changed a host link: {output}"
    listed = {line.split(":")[1].strip().split("@")[0] for line in output.splitlines()
              if line[:1].isdigit() and "link/" in line}
    assert listed == {"lo", "eth0"}, f"links listed inside: {sorted(listed)}, expected lo and eth0"
    inside = [word.split("/")[0] for line in output.splitlines() if " inet" in line
              for word in line.split()[line.split().index("inet" if " inet " in line else "inet6") + 1:][:1]]
    host_side = [address for address in inside if address.startswith("10.199.") and address.endswith(".1")
                 or address.startswith("fd6b:6861:7200:") and address.endswith("::1")]
    assert not host_side, f"the bridge's (host's) address is an address of the container: {host_side}"
    assert "10.123.0.1" in inside, f"control: the address the container added is not listed: {inside}"
    assert "10.124.0.0/16 dev eth0" in output, f"control: the route the container added is not there: {output}"


def test_a_runtime_killed_mid_setup_leaves_nothing_after_delete_force(runtime, bundles, workdir, clean_network):
    """A `create` SIGKILLed after the network exists (by its own createRuntime hook) leaves the container
    "creating" with its lease; `delete --force` then removes the lease, the veth pair and the bridge."""
    if runtime.name not in ("bundled", "bundled-cli"):
        pytest.skip(f"{runtime.name} gets its network from the harness's hooks; this is the bundled runtime's own")
    cli = _bundled_cli(runtime.state_root)
    bridge = bridge_name()
    config = bridged(bundles.config(["true"]), bridge)
    config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}]}
    cid = f"kh-killed-{os.getpid()}"
    with pytest.raises(RuntimeError):
        cli.create(bundles.bundle(config), cid, workdir / f"{cid}.out")
    try:
        held = lease_of(str(runtime.state_root), cid)
        assert held is not None, "control: the killed create left no lease, so this test proves nothing"
        assert link_exists(bridge), "control: the bridge was not made before the runtime died"
    finally:
        cli.delete(cid, force=True)
    assert lease_of(str(runtime.state_root), cid) is None, "delete --force left the killed create's lease"
    assert not link_exists(held.veth) and not link_exists(bridge), "delete --force left the veth or the bridge"


def test_network_goes_on_every_path(container, clean_network):
    """After run returns, after SIGKILL of the init and delete, and after delete --force of a running container,
    no veth pair, lease or bridge is left (the fixture compares the host before and after each)."""
    bridge = bridge_name()
    finished = container.run(config=bridged(container.config(["true"]), bridge))
    assert finished.status == 0, finished.stderr
    assert not link_exists(bridge), f"bridge {bridge} outlived its only container's run"
    killed, killed_lease = sleeper(container, bridge)
    forced, forced_lease = sleeper(container, bridge)
    assert link_exists(killed_lease.veth) and link_exists(forced_lease.veth), "control: no veth host end seen"
    os.kill(killed.pid, 9)
    wait_for(lambda: container.runtime.state(killed.cid)["status"] == "stopped", 30, what="the killed init to stop")
    container.remove(killed)
    assert lease_of(str(container.runtime.state_root), killed.cid) is None, "a killed container's lease outlived delete"
    assert not link_exists(killed_lease.veth), f"{killed_lease.veth} outlived the delete of a killed container"
    assert link_exists(bridge), f"bridge {bridge} went while container {forced.cid} still uses it"
    container.remove(forced)
    assert not link_exists(forced_lease.veth) and not link_exists(bridge), "the veth or bridge outlived delete --force"


def test_a_bridge_that_existed_before_stays(container, clean_network):
    """A bridge made before the containers (by someone else) is used as it is and stays after its last container,
    without the address the runtime added to it."""
    from harness.runtime.netlink import route_socket
    bridge = bridge_name()
    with route_socket() as ipr:
        ipr.link("add", ifname=bridge, kind="bridge")
    try:
        running, granted = sleeper(container, bridge)
        assert link_exists(granted.veth)
        container.remove(running)
        assert link_exists(bridge), f"the pre-existing bridge {bridge} was removed with its last container"
        with route_socket() as ipr:
            index = ipr.link_lookup(ifname=bridge)[0]
            assert not ipr.get_links(index)[0]["flags"] & 0x1, f"{bridge} was down before and is left up"
            left = [message.get_attr("IFA_ADDRESS") for message in ipr.get_addr(index=index)
                    if message.get_attr("IFA_ADDRESS").startswith(("10.199.", "fd6b:"))]
        assert not left, f"the runtime's addresses stayed on the pre-existing bridge {bridge}: {left}"
    finally:
        with route_socket() as ipr:
            ipr.link("del", ifname=bridge)
