"""Tests of the suites' TCP reachability probe (suites/net_support.py) on the host's loopback."""

import errno
import select
import socket

from suites.net_support import connect_outcome


def _connect(port: int) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setblocking(False)
    client.connect_ex(("127.0.0.1", port))
    select.select([], [client], [], 5)
    return client


def test_a_connection_with_a_peer_counts_as_reached():
    """A connect a listener accepted is 0 (reached)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = _connect(server.getsockname()[1])
        try:
            assert connect_outcome(client) == 0
        finally:
            client.close()


def test_a_refused_connection_is_its_errno():
    """A connect to a closed port is ECONNREFUSED, never 0."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    client = _connect(port)
    try:
        assert connect_outcome(client) == errno.ECONNREFUSED
    finally:
        client.close()


class _Unconnected:
    """A socket as select() handed one over on 5.10: writable, SO_ERROR 0, no peer, in TCP state `state`."""

    def __init__(self, state: int):
        self.state = state

    def getsockopt(self, level, name, size=None):
        return bytes([self.state]) if name == socket.TCP_INFO else 0

    def getpeername(self):
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


def test_writable_with_no_error_but_no_peer_is_not_reached():
    """SO_ERROR 0 without a peer is ENOTCONN once the connect is over, and "still connecting" in SYN_SENT."""
    assert connect_outcome(_Unconnected(7)) == errno.ENOTCONN  # TCP_CLOSE
    assert connect_outcome(_Unconnected(2)) is None  # TCP_SYN_SENT
