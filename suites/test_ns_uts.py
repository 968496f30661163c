"""UTS namespace: hostname and domainname are the container's own, on both sides."""

from __future__ import annotations

import os
import socket


def test_hostname_is_the_configured_one_and_the_host_keeps_its_own(container):
    """The container reports the spec's hostname; the host's hostname is unchanged."""
    before = os.uname().nodename
    config = container.config(["hostname"])
    config["hostname"] = "kh-uts-test"
    assert container.run(config=config).check().stdout.strip() == "kh-uts-test"
    assert os.uname().nodename == before


def test_domainname_is_the_configured_one(container):
    """linux domainname reaches the container's kernel.domainname; the host's stays as it was."""
    before = open("/proc/sys/kernel/domainname").read()
    config = container.config(["cat", "/proc/sys/kernel/domainname"])
    config["domainname"] = "kh.example"
    assert container.run(config=config).check().stdout.strip() == "kh.example"
    assert open("/proc/sys/kernel/domainname").read() == before


def test_sibling_containers_do_not_share_a_hostname(container):
    """Two running containers with different hostnames each keep their own."""
    first = container.config(["sh", "-c", "hostname; sleep 300"])
    first["hostname"] = "kh-one"
    second = container.config(["sh", "-c", "hostname; sleep 300"])
    second["hostname"] = "kh-two"
    a, b = container.start(config=first), container.start(config=second)
    assert a.wait_output("kh-one") and b.wait_output("kh-two")
    assert "kh-two" not in a.output_text()


def test_setting_hostname_inside_does_not_leak(container):
    """hostname changed inside (with CAP_SYS_ADMIN) stays inside."""
    before = os.uname().nodename
    config = container.config(["sh", "-c", "hostname kh-changed && hostname"])
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_SYS_ADMIN")
    try:
        assert container.run(config=config).check().stdout.strip() == "kh-changed"
        assert os.uname().nodename == before
    finally:
        if os.uname().nodename != before:  # a runtime without the uts namespace renamed the host: undo it
            socket.sethostname(before)
