"""pids controller: fork fails with EAGAIN at pids.max, and pids.events counts the refusals."""

from __future__ import annotations

from harness.containers import wait_for

from .cgroup_support import limited, read_keyed


def test_fork_fails_with_eagain_at_pids_max(container, cgroup_parent):
    """With pids.max = 8, the ninth process cannot be forked (EAGAIN) and pids.events max grows."""
    path = cgroup_parent.cgroups_path()
    # The loop runs in a subshell: ash gives up on the script whose fork fails, the outer shell goes on.
    script = "(for i in $(seq 16); do sleep 300 & done) 2>/tmp/err; cat /tmp/err; echo forked; sleep 300"
    running = container.start(config=limited(container.config(["sh", "-c", script]), path,
                                             pids={"limit": 8}))
    output = running.wait_output("forked")
    cgroup = cgroup_parent.child(path)
    assert (cgroup / "pids.max").read_text().strip() == "8"
    wait_for(lambda: read_keyed(cgroup / "pids.events")["max"] >= 1, 30, what="pids.events max >= 1")
    assert int((cgroup / "pids.current").read_text()) <= 8
    assert "Resource temporarily unavailable" in output  # strerror(EAGAIN), printed by sh's failed fork


def test_unlimited_pids_allow_the_same_forks(container, cgroup_parent):
    """The same 16 background processes all start without a pids limit (the limit, not the kernel, refused)."""
    path = cgroup_parent.cgroups_path()
    script = "for i in $(seq 16); do sleep 300 & done; echo forked $(ls /proc | grep -c '^[0-9]')"
    running = container.start(config=limited(container.config(["sh", "-c", script + "; sleep 300"]), path))
    out = running.wait_output("forked")
    count = int(out.split("forked")[1].split()[0])
    assert count >= 17
    assert read_keyed(cgroup_parent.child(path) / "pids.events")["max"] == 0
