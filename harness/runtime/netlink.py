"""rtnetlink sockets through pyroute2: the runtime's own network namespace, or another process's.

pyroute2 is imported here only, and late: a container without a bridged network never pays for it (its import
costs 0.3 s natively, some seconds under TCG).
"""

from __future__ import annotations

import os
import socket
import threading

from . import constants as c
from .errors import ContainerError
from .syscalls import Syscalls

NETLINK_ROUTE = 0
ENODEV, EEXIST = 19, 17


def route_socket(pid: int | None = None):
    """A pyroute2 IPRoute on the network namespace of `pid` (None: this process's), subscribed to no events.

    For another namespace, a thread joins it (setns(CLONE_NEWNET) moves only the calling thread) and opens the
    netlink socket there: a socket belongs to the namespace it was made in for its whole life, whichever thread
    uses it afterwards. (pyroute2's own netns= forks a process per socket, which is slow under emulation.)
    """
    from pyroute2.iproute.linux import IPRoute
    if pid is None:
        return IPRoute(groups=0)
    return IPRoute(groups=0, fileno=_netlink_socket_in(pid).detach())


def _netlink_socket_in(pid: int) -> socket.socket:
    path = f"/proc/{pid}/ns/net"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise ContainerError(f"open {path}: {error.strerror}: process {pid} is gone") from error
    outcome: dict = {}

    def body() -> None:
        try:
            Syscalls().setns(fd, c.CLONE_NEWNET)
            outcome["socket"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                                              NETLINK_ROUTE)
        except BaseException as error:  # noqa: BLE001 - re-raised by the caller's thread below
            outcome["error"] = error

    try:
        thread = threading.Thread(target=body, name=f"netns-of-{pid}")
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["socket"]


def error_code(error: BaseException) -> int | None:
    """The errno of a pyroute2 NetlinkError (its `code`), else None."""
    return getattr(error, "code", None)


def link_index(ipr, name: str) -> int | None:
    """The ifindex of link `name` in the namespace of `ipr`, or None if there is none."""
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None
