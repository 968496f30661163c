"""Network namespace: a fresh one holds only lo; sockets bound on one side are unreachable from the other."""

from __future__ import annotations

import errno
import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_network_namespace_has_only_loopback(container):
    """/sys/class/net inside lists lo and nothing else; the host has more (or at least lo)."""
    devices = container.run(["ls", "/sys/class/net"]).check().stdout.split()
    assert devices == ["lo"]


def test_listener_inside_is_unreachable_from_the_host(container):
    """A TCP listener on 127.0.0.1 inside refuses host connections: the loopbacks are different devices."""
    port = free_port()
    running = container.start(["sh", "-c", f"ip link set lo up; nc -l -p {port} & sleep 0.2; echo listening; wait"])
    running.wait_output("listening")
    with socket.socket() as s:
        s.settimeout(5)
        with pytest.raises(OSError) as info:
            s.connect(("127.0.0.1", port))
    assert info.value.errno in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH)


def test_host_listener_is_unreachable_from_the_container(container):
    """A host listener on 127.0.0.1 cannot be reached from inside (connection refused)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        script = f"ip link set lo up; echo hi | nc -w 2 127.0.0.1 {port} && echo connected || echo refused"
        assert container.run(["sh", "-c", script]).stdout.strip().splitlines()[-1] == "refused"
        server.settimeout(0.5)
        with pytest.raises(socket.timeout):
            server.accept()


def test_interfaces_created_inside_stay_inside(container):
    """A veth pair created inside (CAP_NET_ADMIN in its own netns) exists there and not on the host."""
    config = container.config(["sh", "-c", "ip link add kh-a type veth peer name kh-b && ls /sys/class/net"])
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_NET_ADMIN")
    result = container.run(config=config)
    if "kh-a" not in result.stdout:
        pytest.skip(f"veth is unavailable here: {result.stderr.strip()}")
    leaked = [name for _, name in socket.if_nameindex() if name in ("kh-a", "kh-b")]
    if leaked:
        # A runtime that forgot the netns made the pair on the host: remove it (deleting one end removes
        # both) so that the failure leaves nothing behind.
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=leaked[0]):
                ipr.link("del", index=index)
    assert leaked == []
