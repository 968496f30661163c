"""Integration tests of bridged networks (network.py) on their repair paths: a failed set-up undone, a bridge
deleted or a lease gone stale behind the runtime's back, a name taken by another kind of link. See
test_network_integration.py for how each test runs in a throwaway network namespace."""

from __future__ import annotations

import pytest

from harness.runtime.netns_script import netlink_usable, run_in_own_netns  # noqa: F401 - netlink_usable: the fixture used below

pytestmark = pytest.mark.usefixtures("netlink_usable")


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
