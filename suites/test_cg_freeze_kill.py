"""cgroup.freeze and cgroup.kill: frozen processes make no progress; a killed cgroup is emptied."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.containers import wait_for

from .cgroup_support import limited

COUNTER = ["sh", "-c", "i=0; echo counting; while :; do i=$((i+1)); echo $i > /tmp/n; done"]


def progress(running) -> int:
    """The container's counter, read from the host through its root (/proc/PID/root/tmp/n)."""
    try:
        text = Path(f"/proc/{running.pid}/root/tmp/n").read_text().strip()
    except FileNotFoundError:
        return 0  # not written yet
    return int(text) if text.isdigit() else 0


def events(cgroup: Path) -> dict[str, str]:
    return dict(line.split() for line in (cgroup / "cgroup.events").read_text().splitlines())


@pytest.mark.requires("cgroup.freeze")
def test_frozen_container_makes_no_progress_until_thawed(container, cgroup_parent):
    """cgroup.freeze = 1: cgroup.events says frozen and the counter stops; = 0 and it moves again."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(COUNTER), path))
    running.wait_output("counting")
    wait_for(lambda: progress(running) > 0, 30, what="the counter to start")
    cgroup = cgroup_parent.child(path)
    (cgroup / "cgroup.freeze").write_text("1")
    wait_for(lambda: events(cgroup)["frozen"] == "1", 30, what="cgroup.events frozen 1")
    before = progress(running)
    deadline = time.monotonic() + 1.0
    wait_for(lambda: time.monotonic() > deadline, 5, what="a second frozen")
    assert progress(running) == before, "a frozen process kept counting"
    (cgroup / "cgroup.freeze").write_text("0")
    wait_for(lambda: events(cgroup)["frozen"] == "0", 30, what="cgroup.events frozen 0")
    wait_for(lambda: progress(running) > before, 30, what="the counter to move after thawing")


@pytest.mark.requires("cgroup.kill")
def test_cgroup_kill_empties_the_cgroup(container, cgroup_parent):
    """Writing 1 to cgroup.kill SIGKILLs every process: cgroup.procs empties and populated becomes 0."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(
        ["sh", "-c", "sleep 300 & sleep 300 & echo started; wait"]), path))
    running.wait_output("started")
    cgroup = cgroup_parent.child(path)
    assert len((cgroup / "cgroup.procs").read_text().split()) == 3
    (cgroup / "cgroup.kill").write_text("1")
    wait_for(lambda: events(cgroup)["populated"] == "0", 30, what="cgroup.events populated 0")
    assert (cgroup / "cgroup.procs").read_text().strip() == ""


def test_runtime_kill_all_empties_the_cgroup(container, cgroup_parent):
    """The runtime's kill of the container's init takes the whole pid namespace (and cgroup) with it."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(
        ["sh", "-c", "sleep 300 & sleep 300 & echo started; wait"]), path))
    running.wait_output("started")
    container.runtime.kill(running.cid, 9)
    cgroup = cgroup_parent.child(path)
    wait_for(lambda: not cgroup.exists() or events(cgroup)["populated"] == "0", 30,
             what="the container's cgroup to empty")
