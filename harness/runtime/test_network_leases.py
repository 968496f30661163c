"""Tests of the on-disk networks and address leases (network_leases.py), on a scratch root: subnets, host numbers,
freeing, a full network, stale leases, corrupt state, veth names and concurrent allocation by many processes."""

from __future__ import annotations

import ipaddress
import json
import multiprocessing
import os

import pytest

from harness.runtime.errors import ContainerError
from harness.runtime.network_leases import FIRST_HOST, LAST_HOST, Lease, Leases, Network, container_gone, veth_name
from harness.runtime.network_spec import NETWORK_ROOT_VARIABLE
from harness.runtime.record import as_dict

IFNAMSIZ = 16  # the kernel's buffer for an interface name, its NUL included
CONCURRENT_PROCESSES = 16


@pytest.fixture
def leases(tmp_path):
    """A lease store under a scratch root (not made yet: the store makes it when first locked)."""
    return Leases(root=str(tmp_path / "networks"))


@pytest.fixture
def state_root(tmp_path):
    """The state root of a pretend runtime: its containers are the directories under it."""
    root = tmp_path / "state"
    root.mkdir()
    return str(root)


def add(leases: Leases, bridge: str, ipv6: bool = True, **keywords) -> Network:
    """add_network under the lock, as network.py calls it."""
    with leases.locked():
        return leases.add_network(bridge, created_bridge=True, ipv6=ipv6, **keywords)


def test_the_root_comes_from_the_environment(monkeypatch, tmp_path):
    """Without an explicit root, the store is KHARNESS_NETWORK_ROOT; an explicit root wins over it."""
    monkeypatch.setenv(NETWORK_ROOT_VARIABLE, str(tmp_path / "from-env"))
    assert Leases().root == str(tmp_path / "from-env")
    assert Leases(root=str(tmp_path / "explicit")).root == str(tmp_path / "explicit")


def test_an_empty_root_has_no_networks(leases):
    """Before anything is added, the store has no networks and does not `exist` (release skips pyroute2 then),
    even once the lock file is there."""
    assert leases.networks() == [] and not leases.exists()
    with leases.locked():
        pass
    assert os.path.exists(os.path.join(leases.root, "lock"))
    assert leases.networks() == [] and not leases.exists()


def test_add_network_takes_the_lowest_free_index(leases):
    """Networks get subnet indices 0, 1, 2 in turn; once network 0 is removed, the next one takes index 0 again.
    Each is on disk, read back equal by a second store on the same root."""
    first, second, third = add(leases, "kha"), add(leases, "khb"), add(leases, "khc")
    assert [network.index for network in (first, second, third)] == [0, 1, 2]
    assert (first.ipv4, second.ipv4) == ("10.199.0.0/24", "10.199.1.0/24")
    assert ipaddress.ip_network(second.ipv6) == ipaddress.ip_network("fd6b:6861:7200:1::/64")
    assert leases.exists()
    assert Leases(root=leases.root).networks() == [first, second, third]
    with leases.locked():
        leases.remove_network(first)
    assert not os.path.exists(os.path.join(leases.root, "networks", "kha"))
    assert add(leases, "khd").index == 0
    assert [network.bridge for network in leases.networks()] == ["khb", "khc", "khd"]


def test_a_bridge_may_be_named_like_the_lock_file(leases):
    """Networks live in ROOT/networks, beside ROOT/lock: a bridge named "lock" is a network like any other, and a
    stray file among the networks is not one."""
    made = add(leases, "lock")
    with leases.locked():
        with open(os.path.join(leases.root, "networks", "stray"), "w") as stray:
            stray.write("not a network")
        assert leases.networks() == [made]
        assert leases.allocate(made, leases.root, "c1").host == 2


def test_add_network_skips_subnets_that_in_use_refuses(leases):
    """A subnet `in_use` refuses (the host routes it elsewhere) is skipped, as is one another network holds: with
    10.199.0.0/24 taken and 10.199.1-2.0/24 refused, the network gets index 3; each free subnet is asked about."""
    add(leases, "kha")
    asked = []

    def in_use(subnet: str) -> bool:
        asked.append(subnet)
        return subnet in ("10.199.1.0/24", "10.199.2.0/24")

    network = add(leases, "khb", in_use=in_use)
    assert (network.index, network.ipv4) == (3, "10.199.3.0/24")
    assert asked == ["10.199.1.0/24", "10.199.2.0/24", "10.199.3.0/24"]


def test_add_network_fails_when_every_subnet_is_refused(leases):
    """With every subnet refused, add_network raises ContainerError naming the bridge, and records nothing."""
    with pytest.raises(ContainerError, match="network kha: every subnet"):
        add(leases, "kha", in_use=lambda subnet: True)
    assert leases.networks() == []


def test_without_ipv6_the_network_and_its_leases_have_no_ipv6(leases, state_root):
    """ipv6=False records ipv6 None: no IPv6 gateway or interface address, and leases without an IPv6 address."""
    network = add(leases, "kha", ipv6=False)
    assert network.ipv6 is None
    assert Leases(root=leases.root).network("kha").ipv6 is None
    assert (network.gateway(4), network.gateway(6)) == ("10.199.0.1", None)
    assert network.interface(6, 2) is None
    with leases.locked():
        lease = leases.allocate(network, state_root, "c1")
    assert (lease.ipv4, lease.ipv6, lease.address6) == ("10.199.0.2/24", None, None)


def test_allocate_gives_hosts_two_three_and_so_on(leases, state_root):
    """Leases get hosts 2, 3, 4... with the matching IPv4 and IPv6 addresses, the container's veth name and the
    absolute state root, each written down as ROOT/BRIDGE/leases/HOST.json."""
    network = add(leases, "kha")
    with leases.locked():
        made = [leases.allocate(network, state_root, f"c{number}") for number in range(4)]
    assert [lease.host for lease in made] == [2, 3, 4, 5]
    assert [lease.address for lease in made] == ["10.199.0.2", "10.199.0.3", "10.199.0.4", "10.199.0.5"]
    assert made[0].ipv4 == "10.199.0.2/24"
    assert ipaddress.ip_interface(made[0].ipv6) == ipaddress.ip_interface("fd6b:6861:7200::2/64")
    assert made[0] == Lease("kha", 2, state_root, "c0", veth_name(state_root, "c0"), "10.199.0.2/24", made[0].ipv6)
    for lease in made:
        path = os.path.join(leases.root, "networks", "kha", "leases", f"{lease.host}.json")
        with open(path, encoding="utf-8") as file:
            assert Lease(**json.load(file)) == lease
    assert leases.leases(network) == made


def test_allocate_never_gives_a_host_twice(leases, state_root):
    """Many allocations on one network, even for the same container id, never share a host or address."""
    network = add(leases, "kha")
    with leases.locked():
        made = [leases.allocate(network, state_root, "same") for _ in range(40)]
    assert len({lease.host for lease in made}) == 40
    assert len({lease.ipv4 for lease in made}) == 40
    assert len({lease.ipv6 for lease in made}) == 40


def test_a_removed_lease_frees_its_host_for_the_next_allocate(leases, state_root):
    """Remove host 3 of hosts 2-4: the next allocate takes 3 again, the one after it 5. Removing a lease twice is
    harmless."""
    network = add(leases, "kha")
    with leases.locked():
        made = [leases.allocate(network, state_root, f"c{number}") for number in range(3)]
        leases.remove(made[1])
        leases.remove(made[1])
        assert [lease.host for lease in leases.leases(network)] == [2, 4]
        again = leases.allocate(network, state_root, "new")
        after = leases.allocate(network, state_root, "newer")
    assert (again.host, again.container, after.host) == (3, "new", 5)


def test_a_full_network_raises_container_error_naming_the_bridge(leases, state_root):
    """Hosts 2-254 (253 leases) fill a /24: with 2-253 leased (written directly, since 253 allocate calls are slow
    under emulation), allocate takes 254, and the next raises ContainerError naming the bridge, leaving the 253
    leases as they were."""
    network = add(leases, "khfull")
    directory = os.path.join(leases.root, "networks", "khfull", "leases")
    for host in range(FIRST_HOST, LAST_HOST):
        lease = Lease("khfull", host, state_root, f"c{host}", veth_name(state_root, f"c{host}"),
                      network.interface(4, host), network.interface(6, host))
        with open(os.path.join(directory, f"{host}.json"), "w", encoding="utf-8") as file:
            json.dump(as_dict(lease), file)
    with leases.locked():
        assert leases.allocate(network, state_root, "last").host == LAST_HOST
        assert {lease.host for lease in leases.leases(network)} == set(range(2, 255))
        with pytest.raises(ContainerError, match="network khfull is full"):
            leases.allocate(network, state_root, "one-too-many")
        assert len(leases.leases(network)) == 253
        assert leases.leases_of(state_root, "one-too-many") == []


def test_leases_of_finds_a_container_by_root_and_id(leases, tmp_path, monkeypatch):
    """leases_of matches both the state root (relative or absolute) and the id: the same id under another root,
    or another id under the same root, is not the container's."""
    first, second = add(leases, "kha"), add(leases, "khb")
    monkeypatch.chdir(tmp_path)
    with leases.locked():
        mine = leases.allocate(second, "runc-root", "web")
        leases.allocate(first, "crun-root", "web")
        leases.allocate(second, "runc-root", "db")
        assert leases.leases_of(str(tmp_path / "runc-root"), "web") == [mine]
        assert leases.leases_of("runc-root", "web") == [mine]
        assert mine.root == str(tmp_path / "runc-root")
        assert leases.leases_of("runc-root", "cache") == []
        assert leases.leases_of("other-root", "web") == []


def test_container_gone_is_true_when_its_state_directory_is_missing(leases, state_root):
    """A lease is stale once ROOT/ID (the container's state directory) is gone, and not while it is there."""
    network = add(leases, "kha")
    with leases.locked():
        lease = leases.allocate(network, state_root, "c1")
    assert container_gone(lease)
    os.mkdir(os.path.join(state_root, "c1"))
    assert not container_gone(lease)
    os.rmdir(os.path.join(state_root, "c1"))
    assert container_gone(lease)


@pytest.mark.parametrize("content", ["{not json", '["a", "list"]', '{"bridge": "kha"}', ""],
                         ids=["invalid-json", "not-an-object", "missing-fields", "empty"])
def test_a_corrupt_network_file_raises_container_error_naming_it(leases, content):
    """A network.json that is not JSON, or not a network's fields, is a ContainerError naming the file (reading
    that network, and listing all networks), not a bare ValueError or TypeError."""
    add(leases, "kha")
    path = os.path.join(leases.root, "networks", "kha", "network.json")
    with open(path, "w", encoding="utf-8") as file:
        file.write(content)
    with pytest.raises(ContainerError, match=f"network state {path} is corrupt"):
        leases.network("kha")
    with pytest.raises(ContainerError, match=f"network state {path} is corrupt"):
        leases.networks()


def test_a_corrupt_lease_file_is_no_lease_but_keeps_its_host_until_removed(leases, state_root):
    """A lease file that is not JSON (allocate never writes one: it links complete files) is not a lease, and is
    listed as unreadable for the next attach to remove; meanwhile its host number is not handed out."""
    network = add(leases, "kha")
    with leases.locked():
        lease = leases.allocate(network, state_root, "c1")
    path = os.path.join(leases.root, "networks", "kha", "leases", f"{lease.host}.json")
    with open(path, "w", encoding="utf-8") as file:
        file.write("{truncated")
    assert leases.leases(network) == []
    assert leases.unreadable_leases(network) == [path]
    with leases.locked():
        assert leases.allocate(network, state_root, "c2").host == lease.host + 1
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.endswith(".tmp")], "a temporary was left"


def test_veth_names_fit_ifnamsiz_and_differ_per_container(tmp_path, monkeypatch):
    """The host end's name has at most 15 bytes, is the same for the same container (even with a relative root),
    and differs between ids and between state roots."""
    names = {veth_name(str(tmp_path / root), f"container-{number}") for root in ("a", "b") for number in range(50)}
    assert len(names) == 100
    assert all(len(name.encode()) <= IFNAMSIZ - 1 and name.startswith("kh") for name in names)
    long_id = "x" * 1024
    assert len(veth_name(str(tmp_path), long_id)) <= IFNAMSIZ - 1
    monkeypatch.chdir(tmp_path)
    assert veth_name("a", "container-0") == veth_name(str(tmp_path / "a"), "container-0")
    assert veth_name("a", "container-0") != veth_name("b", "container-0")


def _allocate_in_child(root: str, state_root: str, number: int, barrier, results) -> None:
    """The body of one concurrent allocator: wait for all the others, then allocate under the lock."""
    barrier.wait(timeout=120)
    store = Leases(root=root)
    with store.locked():
        network = store.network("khconc")
        lease = store.allocate(network, state_root, f"c{number}")
    results.put((number, lease.host, lease.ipv4, lease.ipv6))


def test_concurrent_processes_get_distinct_hosts(leases, state_root):
    """16 processes released at once by a barrier, each allocating on one network under `with leases.locked()`,
    all succeed and end with 16 distinct hosts and addresses, 2-17, as 16 lease files on disk."""
    add(leases, "khconc")
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(CONCURRENT_PROCESSES)
    results = context.Queue()
    processes = [context.Process(target=_allocate_in_child, args=(leases.root, state_root, number, barrier, results))
                 for number in range(CONCURRENT_PROCESSES)]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=120)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in processes] == [0] * CONCURRENT_PROCESSES
    assert sorted(number for number, *_ in outcomes) == list(range(CONCURRENT_PROCESSES))
    assert {host for _, host, _, _ in outcomes} == set(range(FIRST_HOST, FIRST_HOST + CONCURRENT_PROCESSES))
    assert len({ipv4 for _, _, ipv4, _ in outcomes}) == CONCURRENT_PROCESSES
    assert len({ipv6 for _, _, _, ipv6 in outcomes}) == CONCURRENT_PROCESSES
    on_disk = leases.leases(leases.network("khconc"))
    assert sorted((lease.container, lease.host) for lease in on_disk) == \
        sorted((f"c{number}", host) for number, host, _, _ in outcomes)
