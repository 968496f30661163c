"""Network namespace: a fresh one holds only lo; sockets bound on one side are unreachable from the other.

Every unreachability assertion has a positive control: the same probe, where it must succeed (inside the
container's own network namespace, or from a container sharing the host's), so that a probe broken for another
reason (the listener never came up, nc is missing, lo is down) fails instead of passing as "unreachable".
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from harness.containers import wait_for
from harness.runtime import constants as c
from harness.runtime.rootfs_builder import busybox_path
from harness.runtime.syscalls import Syscalls

# The probe a container runs against 127.0.0.1: nc's own error text (strerror) and its exit status, never a
# "refused" of our own making that any failure would print.
NC_PROBE = "echo hi | nc 127.0.0.1 {port} 2>&1; echo nc-exit $?"
# A fresh network namespace starts with lo down; the runtimes bring it up (the test above checks), but a
# runtime given by path may not: without lo every connect fails with ENETUNREACH, which isolation does not explain.
LO_UP = "ip link set lo up || echo lo-stays-down; "


def with_net_admin(config: dict) -> dict:
    """CAP_NET_ADMIN, to bring up lo (or add links) in the container's own network namespace."""
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_NET_ADMIN")
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def described(code: int) -> str:
    """A connect_errno() result as words: "connected", or the errno's name."""
    return "connected" if code == 0 else errno.errorcode.get(code, str(code))


def connect_errno(port: int) -> int:
    """0 when a TCP connect to 127.0.0.1:port succeeds, else its errno (ETIMEDOUT for a timeout)."""
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError as error:
            return error.errno or errno.ETIMEDOUT
        return 0


def in_network_namespace(pid: int, probe):
    """probe() run by a thread that has joined the network namespace of `pid` (setns(CLONE_NEWNET) moves only the
    calling thread, so the rest of this process stays in the host's)."""
    outcome: dict = {}

    def body() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                Syscalls().setns(fd, c.CLONE_NEWNET)
            finally:
                os.close(fd)
            outcome["value"] = probe()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=body, name=f"netns-of-{pid}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def listening(pid: int, port: int) -> bool:
    """Whether a TCP socket in the network namespace of `pid` listens on `port` (/proc/PID/net/tcp{,6}, state 0A):
    readiness seen without connecting, since busybox nc -l serves one connection only."""
    for table in (Path(f"/proc/{pid}/net/tcp"), Path(f"/proc/{pid}/net/tcp6")):
        if not table.exists():  # tcp6: a kernel without IPv6
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return True
    return False


def test_fresh_network_namespace_has_only_loopback_and_it_is_up(container):
    """/sys/class/net inside lists lo and nothing else, and lo is up (IFF_UP), as runc and crun leave it: the
    kernel makes a new network namespace's lo down, the runtime brings it up."""
    devices = container.run(["ls", "/sys/class/net"]).check().stdout.split()
    assert devices == ["lo"]
    flags = int(container.run(["cat", "/sys/class/net/lo/flags"]).check().stdout, 16)
    assert flags & 0x1, f"lo's flags are {flags:#x} inside: IFF_UP (0x1) is not set"


def test_listener_inside_is_unreachable_from_the_host(container):
    """A TCP listener inside refuses host connections on 127.0.0.1 (ECONNREFUSED: the loopbacks are different
    devices), while the same connect from the container's own network namespace reaches it."""
    port = free_port()
    running = container.start(config=with_net_admin(container.config(["sh", "-c", f"{LO_UP}exec nc -l -p {port}"])))
    wait_for(lambda: listening(running.pid, port), 60,
             what=f"nc listening on port {port} in the network namespace of container {running.cid}")
    host = connect_errno(port)
    assert host == errno.ECONNREFUSED, \
        f"connect(127.0.0.1:{port}) from the host: {described(host)}, expected ECONNREFUSED"
    # Positive control, after the host's attempt: nc serves one connection, so this also proves the host's did
    # not reach it.
    inside = in_network_namespace(running.pid, lambda: connect_errno(port))
    assert inside == 0, (f"connect(127.0.0.1:{port}) inside the container's network namespace failed with "
                         f"{described(inside)}: the listener was never reachable, so the host's "
                         f"refusal proves nothing")


def accepted(server: socket.socket) -> str:
    """A connection waiting on the (non-blocking) host listener, described; "" when there is none."""
    try:
        connection, peer = server.accept()
    except BlockingIOError:
        return ""
    connection.close()
    return f"the host listener accepted a connection from {peer}"


def test_host_listener_is_unreachable_from_the_container(container):
    """A host listener on 127.0.0.1 refuses connections from inside (ECONNREFUSED), while the same probe from a
    container sharing the host's network namespace reaches it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        probe = ["sh", "-c", LO_UP + NC_PROBE.format(port=port)]
        isolated = container.start(config=with_net_admin(container.config(probe)))
        # Poll both ends: a connection that got through leaves nc waiting for our reply, never at "nc-exit".
        outcome = wait_for(lambda: accepted(server) or ("nc-exit" in isolated.output_text()
                                                         and isolated.output_text()),
                           60, what=f"the nc probe of container {isolated.cid}")
        assert os.strerror(errno.ECONNREFUSED) in outcome and "nc-exit 1" in outcome, \
            f"expected ECONNREFUSED from inside the container's network namespace, got: {outcome.strip()}"

        config = container.config(["sh", "-c", NC_PROBE.format(port=port)])
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
        shared = container.start(config=config)
        server.settimeout(60)
        connection, _ = server.accept()
        with connection:
            greeting = connection.recv(16)
        shared.wait_output("nc-exit")
        assert greeting == b"hi\n" and "nc-exit 0" in shared.output_text(), \
            (f"the positive control (the same probe in the host's network namespace) did not get through: received "
             f"{greeting!r}, probe output {shared.output_text().strip()!r}")


def veth_missing_reason() -> str | None:
    """Why this kernel cannot make veth pairs, or None: a pair made in a throwaway network namespace (busybox ip in
    a child that unshared CLONE_NEWNET) fails with EOPNOTSUPP only where CONFIG_VETH is neither built in nor a
    loadable module. Any other outcome is no reason to skip."""
    probe = subprocess.run([busybox_path(), "ip", "link", "add", "kh-probe-a", "type", "veth", "peer", "name",
                            "kh-probe-b"], capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda: Syscalls().unshare(c.CLONE_NEWNET))
    if probe.returncode != 0 and os.strerror(errno.EOPNOTSUPP) in probe.stderr:
        return (f"veth (virtual Ethernet pairs, CONFIG_VETH) is absent from Linux {os.uname().release} "
                f"({probe.stderr.strip()}); it arrived in Linux 2.6.24")
    return None


def test_interfaces_created_inside_stay_inside(container):
    """A veth pair created inside (CAP_NET_ADMIN in its own netns) exists there and not on the host."""
    reason = veth_missing_reason()
    if reason:
        pytest.skip(reason)
    script = "ip link add kh-a type veth peer name kh-b && ls /sys/class/net"
    config = with_net_admin(container.config(["sh", "-c", script]))
    result = container.run(config=config)
    leaked = [name for _, name in socket.if_nameindex() if name in ("kh-a", "kh-b")]
    if leaked:
        # A runtime that forgot the netns made the pair on the host: remove it (deleting one end removes
        # both) so that the failure leaves nothing behind.
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=leaked[0]):
                ipr.link("del", index=index)
    # The kernel has veth: a pair that could not be made is the runtime's or the container's failure, not a skip.
    assert result.status == 0 and "kh-a" in result.stdout.split(), \
        f"`ip link add kh-a type veth peer name kh-b` inside failed (exit {result.status}): {result.stderr.strip()}"
    assert leaked == []
