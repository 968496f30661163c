"""The container's network, as its config.json's annotations ask for it: `none` or `bridge:NAME`, MTU, MAC.

    "annotations": {
        "org.kharness.network": "bridge:kh0",        # none (the default) | bridge:NAME
        "org.kharness.network.mtu": "1400",          # eth0's MTU (and its host end's); default 1500
        "org.kharness.network.mac": "02:42:ac:11:00:02"  # eth0's MAC; default: one the kernel draws
    }

`none` is a fresh network namespace with lo up and nothing else (what runc does without a CNI plugin).
`bridge:NAME` adds a veth pair: the host end a port of bridge NAME (made on first use), the inner end eth0 with
an IPv4 and an IPv6 address of NAME's subnets and a default route through the bridge (network.py). Joining an
existing network namespace (linux.namespaces[].path) is neither: the container uses that namespace as it is.
OCI keeps annotations for exactly this (runtime-specific settings); runc and crun ignore ours, and the harness
then builds the same veth pair around them, as a CNI plugin would (harness/containers.py).
"""

from __future__ import annotations

import os
import re

from .errors import SpecError
from .record import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from .spec import Spec

ANNOTATION = "org.kharness.network"
MTU_ANNOTATION = ANNOTATION + ".mtu"
MAC_ANNOTATION = ANNOTATION + ".mac"
NONE, BRIDGE = "none", "bridge"
# Where networks and leases live (network_leases.py): it outlives every runtime process, as the bridges do.
DEFAULT_NETWORK_ROOT = "/run/kharness-networks"
NETWORKS = "networks"  # ROOT/networks/NAME per network, beside ROOT/lock (network_leases.py)
NETWORK_ROOT_VARIABLE = "KHARNESS_NETWORK_ROOT"
DEFAULT_MTU = 1500
MIN_MTU, MAX_MTU = 1280, 65535  # 1280: IPv6's minimum, and eth0 always has an IPv6 address where IPv6 exists
# Linux interface names: at most IFNAMSIZ-1 = 15 bytes, no "/", no whitespace, not "." or "..". The bridge's name
# also names its state directory, so we keep to a safe alphabet.
_BRIDGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}", re.ASCII)
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_DIGITS = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() also takes "²" and "١٥٠٠"


def network_root() -> str:
    return os.environ.get(NETWORK_ROOT_VARIABLE) or DEFAULT_NETWORK_ROOT


def networks_exist(root: str | None = None) -> bool:
    """Whether any network exists under `root` (a delete without one need not import pyroute2)."""
    try:
        return bool(os.listdir(os.path.join(root or network_root(), NETWORKS)))
    except FileNotFoundError:
        return False


@record(frozen=True)
class NetworkConfig:
    """What the container asked for: mode none, or bridge with the bridge's name, eth0's MTU and MAC."""

    mode: str = NONE
    bridge: str | None = None
    mtu: int = DEFAULT_MTU
    mac: str | None = None

    @property
    def bridged(self) -> bool:
        return self.mode == BRIDGE


def network_config(annotations, spec: Spec | None = None) -> NetworkConfig:
    """The NetworkConfig of a config's annotations; SpecError naming the annotation at fault. With `spec`, also
    check that a bridged container gets a network namespace of its own."""
    mode_text = annotations.get(ANNOTATION, NONE)
    path = f'annotations["{ANNOTATION}"]'
    mode, _, bridge = mode_text.partition(":")
    if mode_text == NONE:
        for key in (MTU_ANNOTATION, MAC_ANNOTATION):
            if key in annotations:
                raise SpecError(f'annotations["{key}"]', f"set, but {ANNOTATION} is {mode_text!r}: only a bridged "
                                                         f"container has an eth0 to configure")
        return NetworkConfig()
    if mode != BRIDGE:
        raise SpecError(path, f"{mode_text!r} is not a network mode: expected 'none' or 'bridge:NAME'")
    if not _BRIDGE_NAME.fullmatch(bridge):
        raise SpecError(path, f"bridge name {bridge!r} is not a valid interface name: 1-15 characters of "
                              "A-Z a-z 0-9 _ . -, starting with a letter or digit")
    config = NetworkConfig(BRIDGE, bridge, _mtu(annotations), _mac(annotations))
    if spec is not None:
        network = spec.linux.namespace("network")
        if network is None or network.path is not None:
            raise SpecError(path, f"{mode_text!r} needs a new network namespace: add {{\"type\": \"network\"}} "
                                  "without a path to linux.namespaces")
    return config


def _mtu(annotations) -> int:
    text = annotations.get(MTU_ANNOTATION)
    if text is None:
        return DEFAULT_MTU
    if not _DIGITS.fullmatch(text) or not MIN_MTU <= int(text) <= MAX_MTU:
        raise SpecError(f'annotations["{MTU_ANNOTATION}"]',
                        f"{text!r} is not an MTU: expected a whole number from {MIN_MTU} to {MAX_MTU}")
    return int(text)


def _mac(annotations) -> str | None:
    text = annotations.get(MAC_ANNOTATION)
    if text is None:
        return None
    mac = text.lower()
    path = f'annotations["{MAC_ANNOTATION}"]'
    if not _MAC.fullmatch(mac):
        raise SpecError(path, f"{text!r} is not a MAC address: expected six hex octets like 02:42:ac:11:00:02")
    if int(mac[:2], 16) & 1:
        raise SpecError(path, f"{text!r} is a multicast address (the first octet is odd): an interface needs a "
                              "unicast one, such as 02:...")
    if mac == "00:00:00:00:00:00":
        raise SpecError(path, "00:00:00:00:00:00 is not a usable MAC address")
    return mac
