"""Bridged container networks: attach a container's network namespace to a bridge, and release it, with pyroute2.

attach (after clone, before the init runs anything of the container):
    lock the networks (network_leases.py); forget leases whose container is gone
    the bridge: made on first use (STP off, up, host 1 of the network's subnets), or taken as it is when it
      existed; and a policy rule per IP version: what enters from it for any network's subnet (10.199.0.0/16,
      fd6b:6861:7200::/48) is prohibited, so two bridges never route to each other, even on a host that
      forwards (ip_forward=1 rewrites every link's own forwarding setting, so that setting cannot do it)
    a lease: the lowest free host number, written down before any link exists
    a veth pair: the host end kh<hash> a port of the bridge, the other end made directly in the container's
      network namespace as eth0 (MTU, MAC as configured)
    inside: eth0's IPv4 and IPv6 addresses (no duplicate address detection: the allocator already guarantees
      that, and DAD would hold the address "tentative" for a second), eth0 up, default routes via the bridge
release (delete, a failed create, or a stale lease found by the next attach):
    the host end of the veth pair, if the container's namespace did not take it along already; the lease; and
    with the network's last lease, the bridge (or, on a bridge that existed before, the addresses we added)

Every step runs under the lock, so a concurrent create never sees a bridge half made or half removed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket

from .errors import ContainerError
from .netlink import EEXIST, ENODEV, error_code, link_index, route_socket
from .network_leases import GATEWAY_HOST, Lease, Leases, Network, container_gone
from .record import replace
from .network_spec import NetworkConfig

INNER_NAME = "eth0"
# The pools of every network (network_leases.py), and where the isolation rules go: before "lookup main" (32766).
ALL_NETWORKS_V4, ALL_NETWORKS_V6 = "10.199.0.0", "fd6b:6861:7200::"
ISOLATION_PRIORITY = 1000
ENOENT, EADDRNOTAVAIL = 2, 99
IFF_UP = 0x1
IFA_F_NODAD = 0x02


def ipv6_available() -> bool:
    """Whether this kernel has IPv6 and it is on (a kernel without it has no /proc/sys/net/ipv6)."""
    try:
        with open("/proc/sys/net/ipv6/conf/all/disable_ipv6") as file:
            return file.read().strip() == "0"
    except OSError:
        return False


def attach(config: NetworkConfig, root: str, container_id: str, pid: int, leases: Leases | None = None) -> Lease:
    """Put the network namespace of process `pid` on bridge `config.bridge`; the lease says its addresses.
    ContainerError naming the bridge and the step on failure, after undoing every step done."""
    leases = leases or Leases()
    _check_own_namespace(pid, container_id)
    # pyroute2's import (seconds under TCG) before the lock, which every other create and delete waits for.
    with route_socket() as ipr, leases.locked():
        _forget_stale(leases, ipr)
        for earlier in leases.leases_of(root, container_id):  # a stale lease of an earlier container of this id
            _drop(leases, ipr, earlier)
        try:
            network = _network(leases, ipr, config.bridge)
        except Exception as error:
            if isinstance(error, ContainerError):
                raise
            raise ContainerError(f"network bridge:{config.bridge} of container {container_id!r}: setting up the "
                                 f"bridge: {error}") from error
        lease = leases.allocate(network, root, container_id)
        try:
            _veth_pair(ipr, network, lease, config, pid)
        except BaseException as error:
            _drop(leases, ipr, lease)
            if isinstance(error, Exception) and not isinstance(error, ContainerError):
                raise ContainerError(f"network bridge:{config.bridge} of container {container_id!r}: {error}") \
                    from error
            raise
        return lease


def _check_own_namespace(pid: int, container_id: str) -> None:
    """Refuse a process in this process's own network namespace: its "eth0" would be made on the host."""
    try:
        theirs, ours = os.stat(f"/proc/{pid}/ns/net"), os.stat("/proc/self/ns/net")
    except OSError as error:
        raise ContainerError(f"network of container {container_id!r}: {error.filename}: {error.strerror} "
                             f"(its process {pid} is gone)") from error
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        raise ContainerError(f"network of container {container_id!r}: process {pid} shares the host's network "
                             "namespace; a bridged container needs its own (a network entry without a path in "
                             "linux.namespaces)")


def release(root: str, container_id: str, leases: Leases | None = None) -> list[Lease]:
    """Remove what attach made for this container (nothing to do, and no pyroute2 import, without networks)."""
    leases = leases or Leases()
    if not leases.exists():
        return []
    with route_socket() as ipr, leases.locked():
        mine = leases.leases_of(root, container_id)
        for lease in mine:
            _drop(leases, ipr, lease)
        _forget_stale(leases, ipr)
        return mine


def lease_of(root: str, container_id: str, leases: Leases | None = None) -> Lease | None:
    """The container's lease (its addresses), or None when it is on no network."""
    leases = leases or Leases()
    if not leases.exists():
        return None
    with leases.locked():
        found = leases.leases_of(root, container_id)
    return found[0] if found else None


def _forget_stale(leases: Leases, ipr) -> None:
    """Under the lock: drop leases whose container is gone, files that hold no lease, and networks without any
    lease (a runtime killed between making a bridge and leasing its first address leaves one)."""
    for network in leases.networks():
        for lease in leases.leases(network):
            if container_gone(lease):
                _drop(leases, ipr, lease)
        for path in leases.unreadable_leases(network):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if leases.network(network.bridge) is not None and not leases.leases(network):
            _remove_network(leases, ipr, network)


def _drop(leases: Leases, ipr, lease: Lease) -> None:
    """The host end of the lease's veth pair (deleting either end deletes both), the lease, and the network with
    its last lease."""
    index = link_index(ipr, lease.veth)
    if index is not None:
        _ignoring(ENODEV, ipr.link, "del", index=index)  # ENODEV: the container's namespace went meanwhile
    leases.remove(lease)
    network = leases.network(lease.bridge)
    if network is not None and not leases.leases(network):
        _remove_network(leases, ipr, network)


def _network(leases: Leases, ipr, bridge: str) -> Network:
    """The network of `bridge`, its bridge made (or found) and addressed. What it changes on a bridge that existed
    is recorded step by step, so that a failure midway (or the last release) undoes exactly that."""
    network = leases.network(bridge)
    index = link_index(ipr, bridge)
    if network is not None and index is not None:
        return network
    if index is not None:
        kind = _kind(ipr, index)
        if kind != "bridge":
            raise ContainerError(f"network bridge:{bridge}: a link named {bridge} exists and is a "
                                 f"{kind or 'plain device'}, not a bridge; choose another name")
    if network is None:
        taken = _host_subnets(ipr)
        network = leases.add_network(bridge, created_bridge=index is None, ipv6=ipv6_available(),
                                     in_use=lambda subnet: any(ipaddress.ip_network(subnet).overlaps(other)
                                                               for other in taken))
    else:
        # Its bridge was deleted behind our back: made again on the same subnets. The leases of its containers
        # stay, so no address a live container holds is handed out again.
        network = replace(network, created_bridge=True, added_addresses=[], brought_up=False)
        leases.save_network(network)
    try:
        if index is None:
            ipr.link("add", ifname=bridge, kind="bridge", br_stp_state=0, br_forward_delay=0)
            index = link_index(ipr, bridge)
        for family in (4, 6):
            address = network.interface(family, GATEWAY_HOST)
            if address is not None:
                plain, prefix = address.split("/")
                flags = {"flags": IFA_F_NODAD} if family == 6 else {}
                if _ignoring(EEXIST, ipr.addr, "add", index=index, address=plain, prefixlen=int(prefix), **flags) \
                        and not network.created_bridge:
                    network = replace(network, added_addresses=[*network.added_addresses, address])
                    leases.save_network(network)
        if not ipr.get_links(index)[0]["flags"] & IFF_UP:
            ipr.link("set", index=index, state="up")
            if not network.created_bridge:
                network = replace(network, brought_up=True)
                leases.save_network(network)
        _isolation_rules(ipr, network, "add")
    except BaseException:
        _remove_network(leases, ipr, network, forget=not leases.leases(network))
        raise
    return network


def _isolation_rules(ipr, network: Network, verb: str) -> None:
    """Add or delete the rules that keep traffic from this bridge off every other network (see the docstring)."""
    for family, destination, length in ((socket.AF_INET, ALL_NETWORKS_V4, 16), (socket.AF_INET6, ALL_NETWORKS_V6, 48)):
        if family == socket.AF_INET6 and network.ipv6 is None:
            continue
        rule = dict(family=family, iifname=network.bridge, dst=destination, dst_len=length,
                    action="FR_ACT_PROHIBIT", priority=ISOLATION_PRIORITY)
        if verb == "add":
            _ignoring(EEXIST, ipr.rule, "add", **rule)
        else:
            _ignoring(ENOENT, ipr.rule, "del", **rule)


def _remove_network(leases: Leases, ipr, network: Network, forget: bool = True) -> None:
    """Undo what the runtime did for `network`: its rules, and its bridge, or on a bridge that existed the
    addresses it added and the up it set; with `forget`, its state too."""
    _isolation_rules(ipr, network, "del")
    index = link_index(ipr, network.bridge)
    if index is not None and network.created_bridge:
        _ignoring(ENODEV, ipr.link, "del", index=index)
    elif index is not None:
        for address in network.added_addresses:
            plain, prefix = address.split("/")
            _ignoring(EADDRNOTAVAIL, ipr.addr, "del", index=index, address=plain, prefixlen=int(prefix))
        if network.brought_up:
            ipr.link("set", index=index, state="down")
    if forget:
        leases.remove_network(network)


def _veth_pair(ipr, network: Network, lease: Lease, config: NetworkConfig, pid: int) -> None:
    peer = {"ifname": INNER_NAME, "net_ns_pid": pid, "mtu": config.mtu}
    if config.mac is not None:
        peer["address"] = config.mac
    ipr.link("add", ifname=lease.veth, kind="veth", mtu=config.mtu, peer=peer)
    host_end = link_index(ipr, lease.veth)
    ipr.link("set", index=host_end, master=link_index(ipr, network.bridge), state="up")
    with route_socket(pid) as inner:
        eth0 = link_index(inner, INNER_NAME)
        for family, address in ((4, lease.ipv4), (6, lease.ipv6)):
            if address is not None:
                plain, prefix = address.split("/")
                flags = {"flags": IFA_F_NODAD} if family == 6 else {}
                inner.addr("add", index=eth0, address=plain, prefixlen=int(prefix), **flags)
        inner.link("set", index=eth0, state="up")
        inner.route("add", dst="0.0.0.0/0", gateway=network.gateway(4), oif=eth0)
        if lease.ipv6 is not None:
            inner.route("add", family=socket.AF_INET6, dst="::/0", gateway=network.gateway(6), oif=eth0)


def _kind(ipr, index: int) -> str | None:
    link = ipr.get_links(index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def _host_subnets(ipr) -> list:
    """The subnets of the host's own IPv4 addresses: a network must not take one of them."""
    found = []
    for message in ipr.get_addr(family=socket.AF_INET):
        with contextlib.suppress(ValueError):
            found.append(ipaddress.ip_network(f"{message.get_attr('IFA_ADDRESS')}/{message['prefixlen']}",
                                              strict=False))
    return found


def _ignoring(code: int, call, *args, **kwargs) -> bool:
    """call(*args, **kwargs); False instead of the NetlinkError when it fails with errno `code`."""
    try:
        call(*args, **kwargs)
    except Exception as error:  # pyroute2's NetlinkError; anything else goes on up
        if error_code(error) != code:
            raise
        return False
    return True
