"""A throwaway network namespace for the bridged-network integration tests: the script they run, and when they can."""


from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT_TIMEOUT_SECONDS = 180
BUSYBOX = "/bin/busybox"

# Run first in every script: helpers the test bodies use. The script's namespace is the "host".
PRELUDE = r'''
import json
import os
import shutil
import subprocess
import sys
import time

from harness.runtime import network
from harness.runtime.errors import ContainerError
from harness.runtime.network_leases import Leases
from harness.runtime.network_spec import network_config

WORK = sys.argv[1]
STATE = os.path.join(WORK, "state")  # the state root of the pretend runtime: a container is a directory in it
os.makedirs(STATE, exist_ok=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
children = []
result = {}


def sleeper():
    """A process in a network namespace of its own (a container's init), once it has left ours."""
    child = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    children.append(child)
    ours = os.stat("/proc/self/ns/net").st_ino
    deadline = time.monotonic() + 60
    while os.stat(f"/proc/{child.pid}/ns/net").st_ino == ours:
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"unshare --net sleep 60 (pid {child.pid}) never got a namespace of its own")
        time.sleep(0.01)
    return child


def container(container_id):
    """The container's state directory: without it, the next attach takes its lease for a stale one."""
    os.makedirs(os.path.join(STATE, container_id), exist_ok=True)


def bridged(bridge, mtu=None, mac=None):
    annotations = {"org.kharness.network": f"bridge:{bridge}"}
    if mtu is not None:
        annotations["org.kharness.network.mtu"] = str(mtu)
    if mac is not None:
        annotations["org.kharness.network.mac"] = mac
    return network_config(annotations)


def ip_json(*arguments, pid=None):
    """`ip -j ARGUMENTS` in our namespace, or in that of `pid`, decoded."""
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid is not None else []
    done = subprocess.run(prefix + ["ip", "-j", *arguments], capture_output=True, text=True, check=True)
    return json.loads(done.stdout or "[]")


def link_names():
    return sorted(link["ifname"] for link in ip_json("link", "show"))


def snapshot():
    """Our namespace's links (name, kind), addresses, routes of every table and policy rules, as sorted lists;
    and, apart, which links are administratively up."""
    links, up = [], []
    for link in ip_json("-d", "link", "show"):
        links.append([link["ifname"], link.get("linkinfo", {}).get("info_kind")])
        if "UP" in link.get("flags", []):
            up.append(link["ifname"])
    addresses = sorted([entry["ifname"], f"{address['local']}/{address['prefixlen']}", address.get("scope")]
                       for entry in ip_json("addr", "show") for address in entry.get("addr_info", []))
    routes = sorted([family, route.get("table", "main"), route.get("type", "unicast"), route.get("dst"),
                     route.get("gateway"), route.get("dev")]
                    for family in ("-4", "-6") for route in ip_json(family, "route", "show", "table", "all"))
    rules = sorted(json.dumps(rule, sort_keys=True) for family in ("-4", "-6") for rule in ip_json(family, "rule"))
    return {"links": sorted(links), "addresses": addresses, "routes": routes, "rules": rules, "up": sorted(up)}


def leftovers():
    """The networks and leases still on disk."""
    store = Leases()
    return [[n.bridge, [[lease.container, lease.host] for lease in store.leases(n)]] for n in store.networks()]


def ping(pid, address, attempts=3):
    """Whether `busybox ping` from the namespace of `pid` gets an answer from `address` (a few tries: a bridge
    port's carrier may come up just after the link does)."""
    command = ["nsenter", "-t", str(pid), "-n", "/bin/busybox", "ping", "-c1", "-W2", address]
    for _ in range(attempts):
        if subprocess.run(command, capture_output=True).returncode == 0:
            return True
    return False


def lease_fields(lease):
    return {"host": lease.host, "ipv4": lease.ipv4, "ipv6": lease.ipv6, "veth": lease.veth,
            "address": lease.address, "address6": lease.address6, "bridge": lease.bridge}

'''

EPILOGUE = r'''
finally:
    for child in children:
        child.kill()
        child.wait()
print("RESULT " + json.dumps(result))
'''


@functools.lru_cache(maxsize=None)
def unusable_reason() -> str | None:
    """Why these tests cannot run here, or None: they need root, unshare, nsenter, ip, busybox, pyroute2, and
    veth and bridge links (tried in a throwaway network namespace)."""
    if os.geteuid() != 0:
        return "bridged networks need root (network namespaces, links)"
    for program in ("unshare", "nsenter", "ip"):
        if shutil.which(program) is None:
            return f"no {program} on PATH"
    if not os.path.isfile(BUSYBOX):
        return f"no busybox at {BUSYBOX} (for ping)"
    if importlib.util.find_spec("pyroute2") is None:
        return "pyroute2 is not installed"
    probe = subprocess.run(["unshare", "--net", "sh", "-c",
                            "ip link add name khprobe0 type veth peer name khprobe1 && "
                            "ip link add name khprobebr type bridge"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"veth or bridge links cannot be made here (kernel modules?): {probe.stderr.strip()}"
    return None


@pytest.fixture(autouse=True)
def netlink_usable():
    """Skip, with the reason, where real veth pairs and bridges cannot be made in a network namespace."""
    reason = unusable_reason()
    if reason is not None:
        pytest.skip(reason)


def run_in_own_netns(tmp_path, body: str) -> dict:
    """Run PRELUDE + `body` (which fills the dict `result`) in a fresh network namespace, with the networks'
    store under tmp_path; `result` decoded. The script must exit 0; its stderr is shown when it does not."""
    script = tmp_path / "body.py"
    script.write_text(PRELUDE + "try:\n" + textwrap.indent(textwrap.dedent(body), "    ") + EPILOGUE)
    environment = dict(os.environ, PYTHONPATH=REPOSITORY, KHARNESS_NETWORK_ROOT=str(tmp_path / "networks"))
    done = subprocess.run(["unshare", "--net", sys.executable, str(script), str(tmp_path)], env=environment,
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_SECONDS)
    assert done.returncode == 0, f"the script exited {done.returncode}:\n{done.stderr[-4000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the script printed no result:\n{done.stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])
