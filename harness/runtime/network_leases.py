"""Networks and address leases on disk: one subnet pair per bridge, one lease file per container, under one lock.

    ROOT/lock                             flock(LOCK_EX) around every change of any network (network.py holds
                                          it through a whole attach or release, so two creates never see the
                                          same free host)
    ROOT/networks/NAME/network.json       {"bridge", "index", "ipv4", "ipv6", "created_bridge", ...}
    ROOT/networks/NAME/leases/H.json      host number H of the subnets: {"root", "container", "veth", "ipv4", ...}

A lease file is made with O_CREAT|O_EXCL under its host number: even a writer that skipped the lock could not be
handed an address another container holds. ROOT is /run/kharness-networks (KHARNESS_NETWORK_ROOT overrides it,
network_spec.py): it outlives every runtime process, as the bridges do, and goes with a reboot, as they do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
from collections.abc import Callable, Iterator

from .errors import ContainerError
from .network_spec import NETWORKS, network_root, networks_exist
from .record import as_dict, field, record

# Network N gets 10.199.N.0/24 and fd6b:6861:7200:N::/64 (N: 0-255). The bridge is host 1 of both; containers
# get 2-254, so IPv4 and IPv6 addresses of a container end in the same number.
IPV4_POOL = "10.199.{index}.0/24"
IPV6_POOL = "fd6b:6861:7200:{index:x}::/64"
NETWORK_COUNT = 256
GATEWAY_HOST = 1
FIRST_HOST, LAST_HOST = 2, 254
NETWORK_FILE = "network.json"
LEASES = "leases"

@record(frozen=True)
class Network:
    """A bridge's subnets, and what of it the runtime made (so that it removes only that)."""

    bridge: str
    index: int
    ipv4: str  # the subnet, like 10.199.0.0/24
    ipv6: str | None  # None on a kernel without IPv6
    created_bridge: bool
    added_addresses: list[str] = field(default_factory=list)  # "ADDRESS/PREFIX" put on a bridge that existed
    brought_up: bool = False  # whether the runtime set a bridge that existed (and was down) up

    def gateway(self, family: int) -> str | None:
        """The bridge's own address in the subnet of IP version `family` (4 or 6), without its prefix."""
        subnet = self.ipv4 if family == 4 else self.ipv6
        return None if subnet is None else str(ipaddress.ip_network(subnet)[GATEWAY_HOST])

    def interface(self, family: int, host: int) -> str | None:
        """ADDRESS/PREFIX of host number `host` in the subnet of IP version `family`."""
        subnet = self.ipv4 if family == 4 else self.ipv6
        if subnet is None:
            return None
        network = ipaddress.ip_network(subnet)
        return f"{network[host]}/{network.prefixlen}"

@record(frozen=True)
class Lease:
    """One container's place on a network: its host number, addresses, and the host end of its veth pair."""

    bridge: str
    host: int
    root: str  # the state root of the runtime that owns the container (ours, runc's, crun's)
    container: str
    veth: str
    ipv4: str  # ADDRESS/PREFIX
    ipv6: str | None

    @property
    def address(self) -> str:
        """The IPv4 address alone."""
        return self.ipv4.split("/")[0]

    @property
    def address6(self) -> str | None:
        return None if self.ipv6 is None else self.ipv6.split("/")[0]

def veth_name(root: str, container_id: str) -> str:
    """The host end's name: "kh" and 12 hex digits of a hash of the container (IFNAMSIZ allows 15 bytes)."""
    digest = hashlib.sha256(f"{os.path.abspath(root)}\0{container_id}".encode()).hexdigest()
    return f"kh{digest[:12]}"

class Leases:
    """The networks and leases under ROOT; every method but `locked` expects the caller to hold the lock."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or network_root()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def exists(self) -> bool:
        """Whether any network was ever made here (a release without one need not import pyroute2)."""
        return networks_exist(self.root)

    def _directory(self, bridge: str) -> str:
        return os.path.join(self.root, NETWORKS, bridge)

    def networks(self) -> list[Network]:
        directory = os.path.join(self.root, NETWORKS)
        if not os.path.isdir(directory):
            return []
        found = []
        for name in sorted(os.listdir(directory)):
            network = self.network(name) if os.path.isdir(os.path.join(directory, name)) else None
            if network is not None:
                found.append(network)
        return found

    def network(self, bridge: str) -> Network | None:
        path = os.path.join(self._directory(bridge), NETWORK_FILE)
        try:
            with open(path, encoding="utf-8") as file:
                return Network(**json.load(file))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            raise ContainerError(f"network state {path} is corrupt ({error}): remove the directory "
                                 f"{self._directory(bridge)} (and bridge {bridge} if no container uses it)") from error

    def add_network(self, bridge: str, created_bridge: bool, ipv6: bool,
                    in_use: Callable[[str], bool] = lambda subnet: False) -> Network:
        """Record a new network on the lowest subnet index no other network holds and `in_use` does not refuse
        (a subnet the host already routes elsewhere)."""
        taken = {network.index for network in self.networks()}
        for index in range(NETWORK_COUNT):
            ipv4 = IPV4_POOL.format(index=index)
            if index not in taken and not in_use(ipv4):
                network = Network(bridge, index, ipv4, IPV6_POOL.format(index=index) if ipv6 else None,
                                  created_bridge)
                self.save_network(network)
                return network
        raise ContainerError(f"network {bridge}: every subnet of 10.199.0.0/16 is taken by another network or the "
                             f"host's own addresses; delete the containers of networks no longer needed")

    def save_network(self, network: Network) -> None:
        directory = self._directory(network.bridge)
        os.makedirs(os.path.join(directory, LEASES), mode=0o700, exist_ok=True)
        _write_atomically(os.path.join(directory, NETWORK_FILE), as_dict(network))

    def remove_network(self, network: Network) -> None:
        directory = self._directory(network.bridge)
        for name in os.listdir(os.path.join(directory, LEASES)):
            os.unlink(os.path.join(directory, LEASES, name))
        os.rmdir(os.path.join(directory, LEASES))
        os.unlink(os.path.join(directory, NETWORK_FILE))
        os.rmdir(directory)

    def leases(self, network: Network) -> list[Lease]:
        directory = os.path.join(self._directory(network.bridge), LEASES)
        found = []
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
            if not name.endswith(".json"):
                continue
            path = os.path.join(directory, name)
            try:
                with open(path, encoding="utf-8") as file:
                    found.append(Lease(**json.load(file)))
            except FileNotFoundError:
                continue
            except (ValueError, TypeError):
                continue  # not one allocate wrote (it links complete files only): see unreadable_leases
        return found

    def unreadable_leases(self, network: Network) -> list[str]:
        """Paths of lease files that hold no lease (written by hand, or damaged): they only block their host
        number, so the next attach removes them."""
        directory = os.path.join(self._directory(network.bridge), LEASES)
        if not os.path.isdir(directory):
            return []
        readable = {f"{lease.host}.json" for lease in self.leases(network)}
        return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
                if name.endswith(".json") and name not in readable]

    def allocate(self, network: Network, root: str, container_id: str) -> Lease:
        """The lowest free host number of `network`, written down for this container before anyone uses it."""
        directory = os.path.join(self._directory(network.bridge), LEASES)
        root = os.path.abspath(root)
        for host in range(FIRST_HOST, LAST_HOST + 1):
            final = os.path.join(directory, f"{host}.json")
            if os.path.exists(final):
                continue
            lease = Lease(network.bridge, host, root, container_id, veth_name(root, container_id),
                          network.interface(4, host), network.interface(6, host))
            # Written whole, then linked into place: link() fails with EEXIST like O_EXCL, and a runtime killed
            # midway leaves a temporary file, never a half-written lease.
            temporary = os.path.join(directory, f".{host}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(json.dumps(as_dict(lease)))
            try:
                os.link(temporary, final)
            except FileExistsError:
                continue
            finally:
                os.unlink(temporary)
            return lease
        raise ContainerError(f"network {network.bridge} is full: its {LAST_HOST - FIRST_HOST + 1} addresses are "
                             f"all leased; delete containers on it, or use another bridge")

    def remove(self, lease: Lease) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._directory(lease.bridge), LEASES, f"{lease.host}.json"))

    def leases_of(self, root: str, container_id: str) -> list[Lease]:
        """The leases of one container (of one runtime's state root), on any network."""
        root = os.path.abspath(root)
        return [lease for network in self.networks() for lease in self.leases(network)
                if lease.root == root and lease.container == container_id]

def container_gone(lease: Lease) -> bool:
    """Whether the lease's container has no state directory any more: its runtime deleted it (or lost it) without
    releasing the lease, so the lease is stale."""
    return not os.path.isdir(os.path.join(lease.root, lease.container))

def _write_atomically(path: str, content: dict) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(json.dumps(content))
    os.replace(temporary, path)
