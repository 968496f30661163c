"""Tests of the sysctl policy: only sysctls of the container's own ipc, network or uts namespace pass (no root)."""

import os

import pytest

from harness.runtime.errors import SpecError
from harness.runtime.spec import load_spec
from harness.runtime.spec_json import join
from harness.runtime.sysctl_policy import check_sysctls, normalise
from harness.runtime.test_spec import DELETE, edited

# runc's config lists pid, network, ipc, uts, mount at these indices.
NETWORK, IPC, UTS = 1, 2, 3


def spec_with(sysctl: dict, **changes):
    """runc's default config with `sysctl` and the other `path=value` edits (paths with "__" for ".")."""
    return load_spec(edited({"linux.sysctl": sysctl,
                             **{path.replace("__", "."): value for path, value in changes.items()}}))


def fake_proc(tmp_path, **namespaces: str):
    """A /proc whose self/ns/<name> are files standing in for the runtime's namespaces; returns (proc, paths)."""
    ns = tmp_path / "proc" / "self" / "ns"
    ns.mkdir(parents=True)
    for name in ("net", "ipc", "uts"):
        (ns / name).write_text(name)
    return str(tmp_path / "proc"), {name: str(ns / name) for name in ("net", "ipc", "uts")}


@pytest.mark.parametrize("key", [
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.msg_max", "fs/mqueue/queues_max",
    "net.ipv4.ip_forward", "net/ipv4/conf/all/forwarding", "net.core.somaxconn", "kernel.domainname",
])
def test_namespaced_sysctls_pass_with_their_own_namespace(key):
    """Each IPC, mqueue, net and uts sysctl passes when runc's config gives the container new ipc, network and uts
    namespaces, in the dotted and the slashed spelling."""
    check_sysctls(spec_with({key: "1"}))


@pytest.mark.parametrize("key", [
    "kernel.core_pattern", "kernel/core_pattern", "kernel.modprobe", "vm.overcommit_memory", "fs.file-max",
    "fs.mqueue", "kernel.msgmax_extra", "kernel.shm", "kernel.printk", "net", "user.max_user_namespaces",
    "dev.tty.ldisc_autoload", "abi.vsyscall32",
])
def test_host_global_sysctls_are_refused_naming_the_key(key):
    """kernel.core_pattern and every other sysctl outside the namespaced families is refused even with every
    namespace new: the error names linux.sysctl["key"], says it is not namespaced and lists what is allowed."""
    with pytest.raises(SpecError) as caught:
        check_sysctls(spec_with({key: "x"}))
    assert caught.value.path == join("linux.sysctl", key)
    assert f'"{key}" is not namespaced: writing it would change the host' in caught.value.message
    assert "kernel.shmmax" in caught.value.message and "fs.mqueue.*" in caught.value.message
    assert "net.* with a network namespace" in caught.value.message
    assert "kernel.hostname" in caught.value.message


def test_core_pattern_is_refused_before_any_allowed_key_is_looked_at():
    """A mix of an allowed and a host-global key is refused as a whole, naming the host-global one."""
    with pytest.raises(SpecError, match=r'^linux\.sysctl\["kernel\.core_pattern"\]: "kernel\.core_pattern" is not '
                                        r"namespaced"):
        check_sysctls(spec_with({"net.ipv4.ip_forward": "1", "kernel.core_pattern": "|/tmp/x"}))


@pytest.mark.parametrize("key, namespace, index", [
    ("kernel.shmmax", "ipc", IPC), ("fs.mqueue.msg_max", "ipc", IPC), ("net.ipv4.ip_forward", "network", NETWORK),
    ("net/ipv4/ip_forward", "network", NETWORK), ("kernel.domainname", "uts", UTS),
])
def test_namespaced_sysctls_are_refused_without_their_namespace(key, namespace, index):
    """Without a namespace of its own the container shares the host's: the key is refused, naming the namespace."""
    namespaces = [entry for entry in edited({})["linux"]["namespaces"] if entry["type"] != namespace]
    with pytest.raises(SpecError) as caught:
        check_sysctls(load_spec(edited({"linux.sysctl": {key: "1"}, "linux.namespaces": namespaces,
                                        "hostname": DELETE})))
    assert caught.value.path == f'linux.sysctl["{key}"]'
    assert f"belongs to the {namespace} namespace, which the container shares with the runtime" \
        in caught.value.message


def test_kernel_hostname_conflicts_with_the_hostname_field():
    """kernel.hostname is refused when hostname is set too (runc's rule), the message naming both; without the
    hostname field it passes in a new uts namespace."""
    with pytest.raises(SpecError, match=r'^linux\.sysctl\["kernel\.hostname"\]: kernel\.hostname conflicts with '
                                        r'hostname \("runc"\)'):
        check_sysctls(spec_with({"kernel.hostname": "box"}))
    with pytest.raises(SpecError, match=r"conflicts with hostname"):
        check_sysctls(spec_with({"kernel/hostname": "box"}))
    check_sysctls(spec_with({"kernel.hostname": "box"}, hostname=DELETE))


def test_a_joined_namespace_counts_only_if_it_is_not_the_runtimes(tmp_path):
    """A network namespace given by a path that is the runtime's own (same device and inode as /proc/self/ns/net)
    is the host's: net.* is refused; a path to another namespace file passes."""
    proc, runtime = fake_proc(tmp_path)
    other = tmp_path / "other-net"
    other.write_text("")
    same = spec_with({"net.ipv4.ip_forward": "1"}, **{f"linux__namespaces[{NETWORK}]": {"type": "network",
                                                                                      "path": runtime["net"]}})
    with pytest.raises(SpecError, match=r'^linux\.sysctl\["net\.ipv4\.ip_forward"\]: .* belongs to the network '
                                        r"namespace, which the container shares"):
        check_sysctls(same, proc=proc)
    link = tmp_path / "link-to-own"  # another name for the same namespace is still the runtime's
    os.symlink(runtime["net"], link)
    with pytest.raises(SpecError, match="shares with the runtime"):
        check_sysctls(spec_with({"net.core.somaxconn": "1"}, **{f"linux__namespaces[{NETWORK}]": {
            "type": "network", "path": str(link)}}), proc=proc)
    check_sysctls(spec_with({"net.ipv4.ip_forward": "1"}, **{f"linux__namespaces[{NETWORK}]": {
        "type": "network", "path": str(other)}}), proc=proc)


@pytest.mark.parametrize("key, index, name", [
    ("kernel.shmmax", IPC, "ipc"), ("kernel.domainname", UTS, "uts"),
])
def test_ipc_and_uts_paths_are_compared_with_the_runtimes_too(tmp_path, key, index, name):
    """The ipc and uts namespaces given by the runtime's own path are the host's as well."""
    proc, runtime = fake_proc(tmp_path)
    spec = spec_with({key: "1"}, hostname=DELETE, **{f"linux__namespaces[{index}]": {
        "type": "ipc" if name == "ipc" else "uts", "path": runtime[name]}})
    with pytest.raises(SpecError, match=rf"belongs to the {name} namespace, which the container shares"):
        check_sysctls(spec, proc=proc)


def test_an_unreadable_namespace_path_names_the_namespace_entry(tmp_path):
    """A namespace path that cannot be stat'ed is a SpecError naming linux.namespaces[i].path and the reason."""
    proc, _ = fake_proc(tmp_path)
    spec = spec_with({"net.ipv4.ip_forward": "1"}, **{f"linux__namespaces[{NETWORK}]": {
        "type": "network", "path": str(tmp_path / "missing")}})
    with pytest.raises(SpecError, match=rf"^linux\.namespaces\[{NETWORK}\]\.path: cannot read the network namespace "
                                        r".*/missing: No such file or directory"):
        check_sysctls(spec, proc=proc)


def test_namespace_paths_are_not_read_without_sysctls_that_need_them(tmp_path):
    """Only a sysctl of that namespace makes its path matter: an ipc sysctl never stats the network path."""
    proc, _ = fake_proc(tmp_path)
    check_sysctls(spec_with({"kernel.shmmax": "1"}, **{f"linux__namespaces[{NETWORK}]": {
        "type": "network", "path": str(tmp_path / "missing")}}), proc=proc)


def test_real_runtime_namespaces_are_recognised():
    """On the running kernel, /proc/self/ns/net given as the path is the runtime's own namespace."""
    if not os.path.exists("/proc/self/ns/net"):
        pytest.skip("/proc/self/ns/net is absent (no network namespaces in this kernel)")
    with pytest.raises(SpecError, match="shares with the runtime"):
        check_sysctls(spec_with({"net.ipv4.ip_forward": "1"}, **{f"linux__namespaces[{NETWORK}]": {
            "type": "network", "path": "/proc/self/ns/net"}}))


def test_no_sysctls_pass_whatever_the_namespaces():
    """A config without sysctls passes even sharing every namespace but mount."""
    check_sysctls(load_spec(edited({"linux.namespaces": [{"type": "mount"}], "hostname": DELETE})))


def test_normalise_makes_slashes_dots():
    """Keys may use "/" as separator, as sysctl(8) and runc accept: the check sees the dotted name."""
    assert normalise("net/ipv4/ip_forward") == "net.ipv4.ip_forward"
    assert normalise("kernel.core_pattern") == "kernel.core_pattern"
