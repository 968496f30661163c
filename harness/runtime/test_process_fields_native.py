"""Integration tests as root: process fields of config.json seen from inside a busybox container."""

import os

import pytest

from harness.runtime import test_integration
from harness.runtime.spec_scheduling import parse_cpu_list
from harness.runtime.test_integration import run_container

pytestmark = test_integration.pytestmark  # root and busybox


def _set(**process_fields):
    def edit(config):
        config["process"].update(process_fields)
    return edit


def _output(make_bundle, state_root, script, edit):
    result = run_container(make_bundle, state_root, ["sh", "-c", script], edit)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_oom_score_adj_is_applied(make_bundle, state_root):
    """process.oomScoreAdj 500 reads back from /proc/self/oom_score_adj."""
    assert _output(make_bundle, state_root, "cat /proc/self/oom_score_adj", _set(oomScoreAdj=500)) == "500"


def test_umask_is_applied(make_bundle, state_root):
    """process.user.umask 027 (23 in JSON) is the program's umask."""
    def edit(config):
        config["process"]["user"]["umask"] = 0o027
    assert _output(make_bundle, state_root, "umask", edit) == "0027"


def test_io_priority_is_applied(make_bundle, state_root):
    """process.ioPriority idle is what ionice reports for the program."""
    output = _output(make_bundle, state_root, "ionice -p $$", _set(ioPriority={"class": "IOPRIO_CLASS_IDLE"}))
    assert output == "idle"


def test_scheduler_batch_is_applied(make_bundle, state_root):
    """process.scheduler SCHED_BATCH with nice 5: /proc/self/sched shows policy 3, /proc/self/stat nice 5."""
    edit = _set(scheduler={"policy": "SCHED_BATCH", "nice": 5})
    output = _output(make_bundle, state_root, "grep '^policy' /proc/self/sched; cut -d' ' -f19 /proc/self/stat",
                     edit)
    policy, nice = output.splitlines()
    assert policy.split()[-1] == "3" and nice == "5"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_exec_cpu_affinity_final_is_applied(make_bundle, state_root):
    """process.execCPUAffinity.final is the program's Cpus_allowed_list."""
    cpu = max(os.sched_getaffinity(0))
    edit = _set(execCPUAffinity={"initial": str(min(os.sched_getaffinity(0))), "final": str(cpu)})
    assert _output(make_bundle, state_root, "grep Cpus_allowed_list /proc/self/status", edit).split()[-1] == str(cpu)


def _host_root_is_shared() -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        return any(line.split()[4] == "/" and "shared:" in line for line in mountinfo)


@pytest.mark.skipif(not _host_root_is_shared(), reason="the host's / is not shared: a slave of it has no master")
def test_rootfs_propagation_rslave_makes_the_root_a_slave(make_bundle, state_root):
    """linux.rootfsPropagation rslave: the container's "/" has a master in its mountinfo (receives host mounts)."""
    def edit(config):
        config["linux"]["rootfsPropagation"] = "rslave"
    output = _output(make_bundle, state_root, "awk '$5 == \"/\"' /proc/self/mountinfo", edit)
    assert "master:" in output and "shared:" not in output


def test_rootfs_propagation_rshared_makes_the_root_shared(make_bundle, state_root):
    """linux.rootfsPropagation rshared: the container's "/" is shared (a peer group of its own)."""
    def edit(config):
        config["linux"]["rootfsPropagation"] = "rshared"
    assert "shared:" in _output(make_bundle, state_root, "awk '$5 == \"/\"' /proc/self/mountinfo", edit)


@pytest.mark.parametrize("field, value, words", [
    ("selinuxLabel", "system_u:system_r:container_t:s0", "process.selinuxLabel: SELinux is not enabled"),
    ("apparmorProfile", "docker-default", "process.apparmorProfile"),
])
def test_labels_of_an_absent_lsm_are_refused(make_bundle, state_root, field, value, words):
    """No LSM on this host: the run fails before the container starts, naming the field."""
    from harness.runtime.lsm import apparmor_enabled, selinux_enabled
    if apparmor_enabled() or selinux_enabled():
        pytest.skip("this host runs AppArmor or SELinux")
    result = run_container(make_bundle, state_root, ["true"], _set(**{field: value}))
    assert result.returncode != 0 and words in result.stderr


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_exec_cpu_affinity_initial_alone_is_not_kept(make_bundle, state_root):
    """With only execCPUAffinity.initial, the program runs on every CPU again (as runc resets it)."""
    cpus = sorted(os.sched_getaffinity(0))
    edit = _set(execCPUAffinity={"initial": str(cpus[0])})
    allowed = _output(make_bundle, state_root, "grep Cpus_allowed_list /proc/self/status", edit).split()[-1]
    assert parse_cpu_list(allowed, "Cpus_allowed_list") == frozenset(cpus)
