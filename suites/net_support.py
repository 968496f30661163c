"""Helpers of the network suites: bridged configs, the host's links/addresses/routes as comparable sets, probes run
from inside a container's network namespace by a thread of the test, and the leftovers a network may leave."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import select
import socket
import threading
import time

from harness.runtime import constants as c
from harness.runtime.network import lease_of
from harness.runtime.network_leases import Lease, Leases
from harness.runtime.network_spec import ANNOTATION, MAC_ANNOTATION, MTU_ANNOTATION
from harness.runtime.syscalls import Syscalls

PROBE_TIMEOUT = 5.0  # seconds a connect or datagram may take before it counts as "not reachable"


def bridge_name() -> str:
    """A bridge name of our own for one test (8 characters; interface names allow 15)."""
    return f"khs{secrets.token_hex(3)}"


def bridged(config: dict, bridge: str, mtu: int | None = None, mac: str | None = None,
            capabilities: tuple[str, ...] = ()) -> dict:
    """`config` on bridge `bridge` (the org.kharness.network annotation), with eth0's MTU/MAC and extra
    capabilities (CAP_NET_RAW for ping, CAP_NET_ADMIN to change links) when given."""
    annotations = config.setdefault("annotations", {})
    annotations[ANNOTATION] = f"bridge:{bridge}"
    if mtu is not None:
        annotations[MTU_ANNOTATION] = str(mtu)
    if mac is not None:
        annotations[MAC_ANNOTATION] = mac
    for capability in capabilities:
        for key in ("bounding", "effective", "permitted"):
            config["process"]["capabilities"][key].append(capability)
    return config


def lease(runtime, cid: str) -> Lease:
    """The container's lease (its addresses); AssertionError when the runtime put it on no network."""
    found = lease_of(str(runtime.state_root), cid)
    assert found is not None, f"container {cid} of {runtime.name} holds no network lease: it is on no bridge"
    return found


def in_netns(pid: int, work):
    """work() run by a thread that has joined the network namespace of `pid`: sockets it makes belong there for
    good, whichever thread uses them afterwards (setns(CLONE_NEWNET) moves only the calling thread)."""
    outcome: dict = {}

    def body() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                Syscalls().setns(fd, c.CLONE_NEWNET)
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=body, name=f"netns-of-{pid}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def tcp_listener(pid: int, port: int = 0) -> socket.socket:
    """A TCP socket listening on all addresses of the network namespace of `pid` (non-blocking)."""
    def make() -> socket.socket:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(64)
        server.setblocking(False)
        return server
    return in_netns(pid, make)


TCP_SYN_SENT = 2  # tcp_info.tcpi_state (include/net/tcp_states.h)


def connect_outcome(client: socket.socket) -> int | None:
    """A non-blocking connect's result once select() called the socket writable: 0 when it is connected, the
    errno when it failed, None while it is still connecting.

    SO_ERROR 0 alone is not "connected": on 5.10 (6 runs of 16 containers over 3 bridges, 2026-12-04) select()
    now and then reported a socket whose SYN the host had prohibited as writable with SO_ERROR 0, and
    getpeername() then said ENOTCONN; counted as reached, an isolated pair looked connected. So a connection
    counts only when it has a peer."""
    code = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        return code
    try:
        client.getpeername()
        return 0
    except OSError as error:
        state = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        return None if state == TCP_SYN_SENT else error.errno


def reachability(sources: dict[str, int], targets: dict[str, tuple[str, int]],
                 timeout: float = PROBE_TIMEOUT) -> dict[tuple[str, str], int]:
    """{(source, target): 0 or errno} for a TCP connect from the network namespace of each source pid to each
    target (address, port), all at once (non-blocking), each given `timeout` seconds (ETIMEDOUT after it)."""
    pending: dict[socket.socket, tuple[str, str]] = {}
    outcome: dict[tuple[str, str], int] = {}
    try:
        for source, pid in sources.items():
            made = in_netns(pid, lambda: [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in targets])
            for client, (target, address) in zip(made, targets.items()):
                client.setblocking(False)
                pending[client] = (source, target)
                code = client.connect_ex(address)
                if code not in (0, errno.EINPROGRESS):
                    outcome[(source, target)] = code
                    del pending[client]
                    client.close()
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
            settled = 0
            for client in writable:
                code = connect_outcome(client)
                if code is None:
                    continue  # still connecting: select() said writable too early
                outcome[pending.pop(client)] = code
                client.close()
                settled += 1
            if writable and not settled:
                time.sleep(0.02)  # only sockets select() calls writable before their time: no busy loop
        for client, pair in pending.items():
            outcome[pair] = errno.ETIMEDOUT
    finally:
        for client in pending:
            client.close()
    return outcome


def host_network() -> dict[str, set]:
    """The host's links (name, kind), addresses (link, address/prefix), routes of the main and local tables
    (table, destination, gateway, link) and policy rules, each as a set: equal before and after means the network
    left nothing and changed nothing."""
    from harness.runtime.netlink import route_socket
    with route_socket() as ipr:
        names = {}
        links = set()
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            names[link["index"]] = link.get_attr("IFLA_IFNAME")
            links.add((link.get_attr("IFLA_IFNAME"), info.get_attr("IFLA_INFO_KIND") if info is not None else None))
        addresses = {(names.get(message["index"]), f"{message.get_attr('IFA_ADDRESS')}/{message['prefixlen']}")
                     for message in ipr.get_addr()}
        routes = set()
        for family, table in ((socket.AF_INET, 254), (socket.AF_INET, 255), (socket.AF_INET6, 254),
                              (socket.AF_INET6, 255)):  # main and local: a bridge's address adds to both
            for route in ipr.get_routes(family=family, table=table):
                routes.add((route.get_attr("RTA_TABLE"), f"{route.get_attr('RTA_DST')}/{route['dst_len']}",
                            route.get_attr("RTA_GATEWAY"), names.get(route.get_attr("RTA_OIF"))))
        rules = {(rule["family"], rule.get_attr("FRA_PRIORITY"), rule.get_attr("FRA_IIFNAME"),
                  rule.get_attr("FRA_DST"), rule["dst_len"], rule["action"])
                 for family in (socket.AF_INET, socket.AF_INET6) for rule in ipr.get_rules(family=family)}
    return {"links": links, "addresses": addresses, "routes": routes, "rules": rules}


@contextlib.contextmanager
def forwarding_on():
    """IPv4 and IPv6 forwarding on in the host for the block, as on a router or a Docker host, where only the
    runtime's isolation rules keep bridges apart (with forwarding off the host drops what it would route anyway,
    and an isolation test would pass without them); the old settings afterwards."""
    paths = ["/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"]
    saved = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # a kernel without IPv6
            with open(path) as file:
                saved[path] = file.read().strip()
            with open(path, "w") as file:
                file.write("1")
    try:
        yield
    finally:
        for path, value in saved.items():
            with open(path, "w") as file:
                file.write(value)


def network_leftovers() -> list[str]:
    """Leases and networks still on disk (the lease store of network_leases.py), as readable lines."""
    store = Leases()
    found = []
    for network in store.networks():
        found.append(f"network {network.bridge} ({network.ipv4})")
        found += [f"lease of {lease.container} on {lease.bridge}: {lease.ipv4}" for lease in store.leases(network)]
    return found


def link_exists(name: str) -> bool:
    """Whether the host (this process's network namespace) has a link `name` (asked over netlink: /sys/class/net
    shows the namespace /sys was mounted in, which need not be ours)."""
    from harness.runtime.netlink import link_index, route_socket
    with route_socket() as ipr:
        return link_index(ipr, name) is not None
