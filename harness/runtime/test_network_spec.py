"""Tests of network_config(): the org.kharness.network annotations read into a NetworkConfig, and every bad value
refused with a SpecError whose path names the annotation at fault."""

from __future__ import annotations

import json

import pytest

from harness.runtime.default_spec import default_config
from harness.runtime.errors import SpecError
from harness.runtime.network_spec import ANNOTATION, DEFAULT_MTU, MAC_ANNOTATION, MTU_ANNOTATION, NetworkConfig, \
    network_config
from harness.runtime.spec import parse_config_text

MODE_PATH = 'annotations["org.kharness.network"]'
MTU_PATH = 'annotations["org.kharness.network.mtu"]'
MAC_PATH = 'annotations["org.kharness.network.mac"]'


def spec_with_network_namespace(network: dict | None):
    """A parsed spec: the default config whose network namespace entry is `network` (None: no such entry)."""
    config = default_config(["true"])
    namespaces = [entry for entry in config["linux"]["namespaces"] if entry["type"] != "network"]
    config["linux"]["namespaces"] = namespaces + ([network] if network is not None else [])
    return parse_config_text(json.dumps(config), "config.json")


def test_annotation_paths_are_spelt_as_the_module_names_them():
    """The constants these tests build paths from are the annotation keys the README documents."""
    assert (ANNOTATION, MTU_ANNOTATION, MAC_ANNOTATION) == (
        "org.kharness.network", "org.kharness.network.mtu", "org.kharness.network.mac")


@pytest.mark.parametrize("annotations", [{}, {ANNOTATION: "none"}, {"org.example.other": "x"}],
                         ids=["no-annotations", "explicit-none", "unrelated-annotation"])
def test_without_a_bridge_the_mode_is_none(annotations):
    """No network annotation, `none`, or only annotations of others: mode none, no bridge, default MTU, no MAC."""
    config = network_config(annotations)
    assert config == NetworkConfig()
    assert (config.mode, config.bridge, config.mtu, config.mac, config.bridged) == ("none", None, DEFAULT_MTU, None,
                                                                                     False)


def test_a_bridge_without_mtu_or_mac_gets_the_defaults():
    """bridge:NAME alone: bridged, on NAME, MTU 1500, and no MAC (the kernel draws one)."""
    config = network_config({ANNOTATION: "bridge:kh0"})
    assert config == NetworkConfig("bridge", "kh0", 1500, None)
    assert config.bridged


@pytest.mark.parametrize("mtu, mac, expected_mtu, expected_mac", [
    ("1400", "02:42:ac:11:00:02", 1400, "02:42:ac:11:00:02"),
    ("1280", None, 1280, None),
    ("65535", None, 65535, None),
    (None, "02:42:AC:11:00:0A", 1500, "02:42:ac:11:00:0a"),
], ids=["mtu-and-mac", "lowest-mtu", "highest-mtu", "upper-case-mac-lowered"])
def test_a_bridge_with_mtu_and_mac_is_parsed(mtu, mac, expected_mtu, expected_mac):
    """bridge:NAME with .mtu and .mac: the MTU as a number (1280 and 65535 included), the MAC in lower case."""
    annotations = {ANNOTATION: "bridge:br-test.1"}
    if mtu is not None:
        annotations[MTU_ANNOTATION] = mtu
    if mac is not None:
        annotations[MAC_ANNOTATION] = mac
    assert network_config(annotations) == NetworkConfig("bridge", "br-test.1", expected_mtu, expected_mac)


def test_a_bridge_name_of_fifteen_characters_is_accepted():
    """IFNAMSIZ leaves 15 bytes for a name: exactly 15 characters are fine."""
    assert network_config({ANNOTATION: "bridge:" + "b" * 15}).bridge == "b" * 15


BRIDGE = {ANNOTATION: "bridge:kh0"}

# (id, annotations, SpecError.path expected, a fragment of the message)
BAD_ANNOTATIONS = [
    ("unknown-mode", {ANNOTATION: "host"}, MODE_PATH, "is not a network mode"),
    ("unknown-mode-with-name", {ANNOTATION: "macvlan:kh0"}, MODE_PATH, "is not a network mode"),
    ("empty-mode", {ANNOTATION: ""}, MODE_PATH, "is not a network mode"),
    ("none-with-a-name", {ANNOTATION: "none:kh0"}, MODE_PATH, "is not a network mode"),
    ("none-with-an-empty-name", {ANNOTATION: "none:"}, MODE_PATH, "is not a network mode"),
    ("upper-case-mode", {ANNOTATION: "Bridge:kh0"}, MODE_PATH, "is not a network mode"),
    ("bridge-without-name", {ANNOTATION: "bridge:"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-bare", {ANNOTATION: "bridge"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-16-chars", {ANNOTATION: "bridge:" + "b" * 16}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-slash", {ANNOTATION: "bridge:a/b"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-space", {ANNOTATION: "bridge:a b"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-dot", {ANNOTATION: "bridge:."}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-dotdot", {ANNOTATION: "bridge:.."}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-leading-dash", {ANNOTATION: "bridge:-kh"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-colon", {ANNOTATION: "bridge:kh:0"}, MODE_PATH, "is not a valid interface name"),
    ("bridge-name-non-ascii", {ANNOTATION: "bridge:kh\u00e9"}, MODE_PATH, "is not a valid interface name"),
    ("mtu-not-a-number", BRIDGE | {MTU_ANNOTATION: "big"}, MTU_PATH, "is not an MTU"),
    ("mtu-empty", BRIDGE | {MTU_ANNOTATION: ""}, MTU_PATH, "is not an MTU"),
    ("mtu-superscript-digit", BRIDGE | {MTU_ANNOTATION: "1500\u00b2"}, MTU_PATH, "is not an MTU"),
    ("mtu-arabic-indic-digits", BRIDGE | {MTU_ANNOTATION: "\u0661\u0665\u0660\u0660"}, MTU_PATH, "is not an MTU"),
    ("mtu-negative", BRIDGE | {MTU_ANNOTATION: "-1500"}, MTU_PATH, "is not an MTU"),
    ("mtu-fraction", BRIDGE | {MTU_ANNOTATION: "1500.0"}, MTU_PATH, "is not an MTU"),
    ("mtu-hex", BRIDGE | {MTU_ANNOTATION: "0x5dc"}, MTU_PATH, "is not an MTU"),
    ("mtu-with-space", BRIDGE | {MTU_ANNOTATION: " 1500"}, MTU_PATH, "is not an MTU"),
    ("mtu-below-1280", BRIDGE | {MTU_ANNOTATION: "1279"}, MTU_PATH, "is not an MTU"),
    ("mtu-zero", BRIDGE | {MTU_ANNOTATION: "0"}, MTU_PATH, "is not an MTU"),
    ("mtu-above-65535", BRIDGE | {MTU_ANNOTATION: "65536"}, MTU_PATH, "is not an MTU"),
    ("mac-too-short", BRIDGE | {MAC_ANNOTATION: "02:42:ac:11:00"}, MAC_PATH, "is not a MAC address"),
    ("mac-too-long", BRIDGE | {MAC_ANNOTATION: "02:42:ac:11:00:02:03"}, MAC_PATH, "is not a MAC address"),
    ("mac-not-hex", BRIDGE | {MAC_ANNOTATION: "02:42:ac:11:00:zz"}, MAC_PATH, "is not a MAC address"),
    ("mac-dashes", BRIDGE | {MAC_ANNOTATION: "02-42-ac-11-00-02"}, MAC_PATH, "is not a MAC address"),
    ("mac-single-digit-octets", BRIDGE | {MAC_ANNOTATION: "2:42:ac:11:0:2"}, MAC_PATH, "is not a MAC address"),
    ("mac-empty", BRIDGE | {MAC_ANNOTATION: ""}, MAC_PATH, "is not a MAC address"),
    ("mac-multicast", BRIDGE | {MAC_ANNOTATION: "01:00:5e:00:00:01"}, MAC_PATH, "is a multicast address"),
    ("mac-multicast-odd-octet", BRIDGE | {MAC_ANNOTATION: "03:42:ac:11:00:02"}, MAC_PATH, "is a multicast address"),
    ("mac-broadcast", BRIDGE | {MAC_ANNOTATION: "ff:ff:ff:ff:ff:ff"}, MAC_PATH, "is a multicast address"),
    ("mac-all-zero", BRIDGE | {MAC_ANNOTATION: "00:00:00:00:00:00"}, MAC_PATH, "not a usable MAC address"),
    ("mtu-with-default-mode", {MTU_ANNOTATION: "1400"}, MTU_PATH, "only a bridged container has an eth0"),
    ("mac-with-default-mode", {MAC_ANNOTATION: "02:42:ac:11:00:02"}, MAC_PATH, "only a bridged container has an eth0"),
    ("mtu-with-none", {ANNOTATION: "none", MTU_ANNOTATION: "1400"}, MTU_PATH, "only a bridged container"),
    ("mac-with-none", {ANNOTATION: "none", MAC_ANNOTATION: "02:42:ac:11:00:02"}, MAC_PATH,
     "only a bridged container"),
    ("bad-mtu-with-none", {ANNOTATION: "none", MTU_ANNOTATION: "big"}, MTU_PATH, "only a bridged container"),
]


@pytest.mark.parametrize("annotations, path, fragment", [case[1:] for case in BAD_ANNOTATIONS],
                         ids=[case[0] for case in BAD_ANNOTATIONS])
def test_bad_annotations_raise_spec_error_naming_the_annotation(annotations, path, fragment):
    """Each bad value is a SpecError (not another exception) whose path is the annotation at fault and whose
    message says what is wrong with it."""
    with pytest.raises(SpecError) as raised:
        network_config(annotations)
    assert raised.value.path == path
    assert fragment in raised.value.message
    assert str(raised.value).startswith(path + ": ")


def test_the_bad_value_is_quoted_in_the_message():
    """The message repeats the refused value, so a user sees which text was read."""
    with pytest.raises(SpecError, match="'1279' is not an MTU: expected a whole number from 1280 to 65535"):
        network_config(BRIDGE | {MTU_ANNOTATION: "1279"})
    with pytest.raises(SpecError, match="'kh/0' is not a valid interface name"):
        network_config({ANNOTATION: "bridge:kh/0"})


@pytest.mark.parametrize("network", [None, {"type": "network", "path": "/proc/1/ns/net"}],
                         ids=["no-network-namespace", "joined-network-namespace"])
def test_with_a_spec_a_bridge_needs_a_new_network_namespace(network):
    """Given the spec, bridge mode is refused (naming the mode annotation) when linux.namespaces has no network
    namespace, or joins an existing one by path: eth0 would land in the host's or another's namespace."""
    spec = spec_with_network_namespace(network)
    assert spec.linux.namespace("network") is None or spec.linux.namespace("network").path is not None
    with pytest.raises(SpecError) as raised:
        network_config({ANNOTATION: "bridge:kh0"}, spec)
    assert raised.value.path == MODE_PATH
    assert "needs a new network namespace" in raised.value.message


@pytest.mark.parametrize("network", [None, {"type": "network", "path": "/proc/1/ns/net"}],
                         ids=["no-network-namespace", "joined-network-namespace"])
def test_with_a_spec_mode_none_needs_no_network_namespace(network):
    """Mode none with the same specs is fine: the container simply uses whatever namespace it is given."""
    assert network_config({ANNOTATION: "none"}, spec_with_network_namespace(network)) == NetworkConfig()


def test_with_a_spec_that_has_a_fresh_network_namespace_a_bridge_is_accepted():
    """The default config (a new network namespace without a path) may be bridged; the spec changes nothing of
    the parsed result."""
    config = default_config(["true"])
    config["annotations"] = {ANNOTATION: "bridge:kh0", MTU_ANNOTATION: "9000"}
    spec = parse_config_text(json.dumps(config), "config.json")
    assert network_config(spec.annotations, spec) == NetworkConfig("bridge", "kh0", 9000, None)
