"""Tests of the scheduling, affinity, LSM and propagation fields of config.json, against the recording fake."""

import errno
import os

import pytest

from harness.runtime import constants as c
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.lsm import apply_exec_labels, check_lsm
from harness.runtime.mount_steps import MountStep
from harness.runtime.process_env import with_home
from harness.runtime.process_setup import apply_personality, exec_process, set_up_process
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.rootfs_plan import plan_rootfs
from harness.runtime.spec import load_spec
from harness.runtime.spec_linux import Personality, parse_personality
from harness.runtime.spec_scheduling import MAX_CPUS, parse_cpu_list
from harness.runtime.test_spec import edited


def _spec(changes):
    return load_spec(edited(changes))


def _refusal(changes) -> str:
    with pytest.raises(SpecError) as caught:
        _spec(changes)
    return str(caught.value)


# -- parsing ---------------------------------------------------------------------------------------


def test_scheduler_parses_into_a_record():
    """A full SCHED_DEADLINE entry keeps every field, flags by name."""
    scheduler = _spec({"process.scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                             "deadline": 20_000_000, "period": 30_000_000,
                                             "flags": ["SCHED_FLAG_RESET_ON_FORK"]}}).process.scheduler
    assert (scheduler.policy, scheduler.runtime, scheduler.deadline, scheduler.period, scheduler.flags) == \
        ("SCHED_DEADLINE", 10_000_000, 20_000_000, 30_000_000, ("SCHED_FLAG_RESET_ON_FORK",))


@pytest.mark.parametrize("scheduler, path, words", [
    ({"policy": "SCHED_BOGUS"}, "process.scheduler.policy", "unknown policy"),
    ({"nice": 1}, "process.scheduler.policy", "required"),
    ({"policy": "SCHED_OTHER", "priority": 5}, "process.scheduler.priority", "only SCHED_FIFO and SCHED_RR"),
    ({"policy": "SCHED_FIFO"}, "process.scheduler.priority", "[1, 99]"),
    ({"policy": "SCHED_BATCH", "runtime": 5}, "process.scheduler.runtime", "only SCHED_DEADLINE"),
    ({"policy": "SCHED_RR", "priority": 1, "period": 5}, "process.scheduler.period", "only SCHED_DEADLINE"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice", "out of range"),
    ({"policy": "SCHED_OTHER", "flags": ["RESET_ON_FORK"]}, "process.scheduler.flags[0]", "unknown scheduler flag"),
])
def test_invalid_scheduler_is_refused_naming_the_path(scheduler, path, words):
    """runc 1.2's rules: priority only for FIFO/RR, deadline parameters only for DEADLINE, nice in [-20, 19]."""
    message = _refusal({"process.scheduler": scheduler})
    assert message.startswith(path + ":") and words in message


@pytest.mark.parametrize("io_priority, path", [
    ({"class": "IOPRIO_CLASS_NONE"}, "process.ioPriority.class"),
    ({"class": "IOPRIO_CLASS_BE", "priority": 8}, "process.ioPriority.priority"),
    ({"priority": 1}, "process.ioPriority.class"),
])
def test_invalid_io_priority_is_refused_naming_the_path(io_priority, path):
    """Three classes, levels 0 to 7."""
    assert _refusal({"process.ioPriority": io_priority}).startswith(path + ":")


def test_cpu_lists_parse_strictly():
    """The kernel's cpu list syntax: numbers and ascending ranges, comma-separated, nothing else."""
    assert parse_cpu_list("0-3,7", "p") == frozenset({0, 1, 2, 3, 7})
    assert parse_cpu_list("5", "p") == frozenset({5})
    for bad in ("", "3-1", "0,,1", " 0", "0-", "a", "1,2 ", "0-2-3", f"0-{MAX_CPUS}"):
        with pytest.raises(SpecError, match=r"^p:"):
            parse_cpu_list(bad, "p")


def test_exec_cpu_affinity_errors_name_the_path():
    assert _refusal({"process.execCPUAffinity": {"final": "1-0"}}).startswith("process.execCPUAffinity.final:")
    assert _refusal({"process.execCPUAffinity": {"initial": 3}}).startswith("process.execCPUAffinity.initial:")
    assert _refusal({"process.execCPUAffinity": {"later": "0"}}).startswith("process.execCPUAffinity.later:")


@pytest.mark.parametrize("value", [-1001, 1001, "5", 1.0])
def test_oom_score_adj_out_of_range_is_refused(value):
    """The kernel's range is [-1000, 1000]."""
    assert _refusal({"process.oomScoreAdj": value}).startswith("process.oomScoreAdj:")


def test_personality_parses_domain_and_known_flags():
    assert parse_personality({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}, "linux.personality") == \
        Personality("LINUX32", ("ADDR_NO_RANDOMIZE",))
    with pytest.raises(SpecError, match=r"^linux.personality.domain: unknown personality domain"):
        parse_personality({"domain": "PER_SVR4"}, "linux.personality")
    with pytest.raises(SpecError, match=r"^linux.personality.flags\[0\]: unknown personality flag"):
        parse_personality({"domain": "LINUX", "flags": ["NO_SUCH"]}, "linux.personality")


@pytest.mark.parametrize("path, value", [
    ("linux.intelRdt", {"closID": "guaranteed_group"}),
    ("linux.netDevices", {"eth1": {}}),
    ("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0"}),
    ("process.commandLine", "cmd.exe"),
    ("process.user.username", "root"),
])
def test_unimplemented_fields_are_refused_by_name(path, value):
    """Never ignored: a field this runtime does not apply is an error naming it."""
    assert _refusal({path: value}) == f"{path}: not supported by this runtime"


# -- applying, in order --------------------------------------------------------------------------------


def test_scheduling_is_applied_before_identity_and_capabilities(program_dir):
    """Initial affinity first; ioprio_set and sched_setattr while still root and with every capability."""
    spec = _spec({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                  "process.ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
                  "process.scheduler": {"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
                  "process.execCPUAffinity": {"initial": "0-1", "final": "1"}})
    fake = RecordingSyscalls()
    set_up_process(spec.process, fake)
    assert fake.calls[0] == ("sched_setaffinity", (0, (0, 1)))
    assert fake.arguments_of("ioprio_set") == [(c.IOPRIO_WHO_PROCESS, 0, 3 << 13 | 4)]
    assert fake.arguments_of("sched_setattr") == [(0, c.SCHED_POLICIES["SCHED_RR"], 0x01, 0, 10, 0, 0, 0)]
    names = fake.names()
    assert names.index("sched_setattr") < names.index("setresuid") < names.index("capset")
    assert names.count("sched_setaffinity") == 1  # the final one waits for the exec


def test_final_affinity_is_set_right_before_execve(program_dir):
    spec = _spec({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                  "process.execCPUAffinity": {"final": "0,2"}})
    fake = RecordingSyscalls()
    exec_process(f"{program_dir}/prog", spec.process, fake)
    assert fake.calls[-2:] == [("sched_setaffinity", (0, (0, 2))),
                               ("execve", (f"{program_dir}/prog", ("prog",), with_home(spec.process.env, 0)))]


def test_initial_affinity_alone_is_reset_before_execve(program_dir):
    """As runc: without `final` the program does not keep the set-up's CPUs (every CPU, within the cpuset)."""
    spec = _spec({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                  "process.execCPUAffinity": {"initial": "0"}})
    fake = RecordingSyscalls()
    exec_process(f"{program_dir}/prog", spec.process, fake)
    assert fake.arguments_of("sched_setaffinity") == [(0, tuple(range(MAX_CPUS)))]


def test_scheduler_failure_names_the_path(program_dir):
    spec = _spec({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                  "process.scheduler": {"policy": "SCHED_ISO"}})
    fake = RecordingSyscalls()
    fake.fail("sched_setattr", errno.EINVAL)
    with pytest.raises(ContainerError, match=r"^process.scheduler: .*sched_setattr"):
        set_up_process(spec.process, fake)


def test_personality_is_the_domain_or_its_flags():
    fake = RecordingSyscalls()
    apply_personality(Personality("LINUX32", ("ADDR_NO_RANDOMIZE",)), fake)
    apply_personality(None, fake)
    assert fake.calls == [("personality", (0x0008 | 0x0040000,))]
    fake.fail("personality", errno.EINVAL)
    with pytest.raises(ContainerError, match=r"^linux.personality: "):
        apply_personality(Personality("LINUX"), fake)


# -- LSM labels ------------------------------------------------------------------------------------


def _lsm_root(tmp_path, apparmor=False, selinux_label=None):
    if apparmor:
        (tmp_path / "sys/kernel/security/apparmor").mkdir(parents=True)
        (tmp_path / "sys/module/apparmor/parameters").mkdir(parents=True)
        (tmp_path / "sys/module/apparmor/parameters/enabled").write_text("Y\n")
    if selinux_label:
        (tmp_path / "sys/fs/selinux").mkdir(parents=True)
        (tmp_path / "sys/fs/selinux/enforce").write_text("1")
        (tmp_path / "proc/self/attr").mkdir(parents=True)
        (tmp_path / "proc/self/attr/current").write_text(selinux_label + "\0")
    return str(tmp_path)


@pytest.mark.parametrize("path, value, words", [
    ("process.apparmorProfile", "docker-default", "AppArmor is not enabled"),
    ("process.selinuxLabel", "system_u:system_r:container_t:s0", "SELinux is not enabled"),
    ("linux.mountLabel", "system_u:object_r:container_file_t:s0", "SELinux is not enabled"),
])
def test_labels_are_refused_without_their_lsm(tmp_path, path, value, words):
    """The container would run unconfined: refuse, naming the field."""
    spec = _spec({path: value})
    with pytest.raises(SpecError) as caught:
        check_lsm(spec.process, spec.linux, _lsm_root(tmp_path))
    assert str(caught.value).startswith(path + ":") and words in str(caught.value)


def test_labels_pass_where_their_lsm_is_active(tmp_path):
    spec = _spec({"process.apparmorProfile": "p", "process.selinuxLabel": "a:b:c:s0", "linux.mountLabel": "x:y:z:s0"})
    check_lsm(spec.process, spec.linux, _lsm_root(tmp_path, apparmor=True, selinux_label="system_u:r:t:s0"))


def test_selinux_before_its_policy_counts_as_absent(tmp_path):
    spec = _spec({"process.selinuxLabel": "a:b:c:s0"})
    with pytest.raises(SpecError, match="SELinux is not enabled"):
        check_lsm(spec.process, spec.linux, _lsm_root(tmp_path, selinux_label="kernel"))


def test_create_refuses_a_label_on_this_host_without_lsm(tmp_path):
    """The check runs in create's up-front checks, before anything is made; this host runs neither LSM."""
    from harness.runtime import api
    if _host_has_selinux():
        pytest.skip("this host runs SELinux")
    with pytest.raises(SpecError, match=r"^process.selinuxLabel: SELinux is not enabled"):
        api.check_supported(_spec({"process.selinuxLabel": "a:b:c:s0"}))


def _host_has_selinux():
    from harness.runtime.lsm import selinux_enabled
    return selinux_enabled()


def test_labels_are_written_for_the_next_exec():
    """AppArmor: "exec PROFILE" in its own attr directory; SELinux: the bare label in the shared one."""
    spec = _spec({"process.apparmorProfile": "my-profile", "process.selinuxLabel": "u:r:t:s0"})
    fake = RecordingSyscalls()
    apply_exec_labels(spec.process, fake)
    opened = [arguments[0] for arguments in fake.arguments_of("open")]
    assert opened == ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"]
    assert [arguments[1] for arguments in fake.arguments_of("write")] == [b"exec my-profile", b"u:r:t:s0"]
    assert fake.names().count("close") == 2


def test_apparmor_falls_back_to_the_shared_attr_file_before_linux_5_1():
    spec = _spec({"process.apparmorProfile": "my-profile"})
    fake = RecordingSyscalls()
    fake.fail("open", errno.ENOENT, when=lambda arguments: arguments[0] == "/proc/self/attr/apparmor/exec")
    apply_exec_labels(spec.process, fake)
    assert fake.path_of(fake.arguments_of("write")[0][0]) == "/proc/self/attr/exec"


def test_label_write_failure_names_the_field():
    spec = _spec({"process.selinuxLabel": "u:r:t:s0"})
    fake = RecordingSyscalls()
    fake.fail("write", errno.EINVAL)
    with pytest.raises(ContainerError, match=r"^process.selinuxLabel: "):
        apply_exec_labels(spec.process, fake)


def test_labels_come_before_the_capability_drop(program_dir):
    spec = _spec({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                  "process.apparmorProfile": "my-profile"})
    fake = RecordingSyscalls()
    set_up_process(spec.process, fake)
    assert fake.names().index("write") < fake.names().index("capset")


# -- the mount plan ----------------------------------------------------------------------------------


def _plan(changes, tmp_path):
    return plan_rootfs(_spec(changes), str(tmp_path), str(tmp_path))


def test_without_rootfs_propagation_the_host_tree_is_made_private(tmp_path):
    plan = _plan({}, tmp_path)
    assert plan[0] == MountStep("make / private", "/", flags=c.MS_REC | c.MS_PRIVATE, in_rootfs=False)
    assert all(getattr(step, "what", "") != "linux.rootfsPropagation" for step in plan)


@pytest.mark.parametrize("propagation, host_side, final", [
    ("rslave", c.MS_REC | c.MS_SLAVE, c.MS_REC | c.MS_SLAVE),
    ("shared", c.MS_REC | c.MS_SLAVE, c.MS_SHARED),
    ("rshared", c.MS_REC | c.MS_SLAVE, c.MS_REC | c.MS_SHARED),
    ("private", c.MS_REC | c.MS_PRIVATE, c.MS_PRIVATE),
    ("runbindable", c.MS_REC | c.MS_PRIVATE, c.MS_REC | c.MS_UNBINDABLE),
])
def test_rootfs_propagation_sets_the_host_side_and_the_container_root(tmp_path, propagation, host_side, final):
    """Slave and shared kinds receive the host's later mounts (rslave, runc's default); "/" gets the exact kind
    after pivot_root; nothing is ever made shared with the host."""
    plan = _plan({"linux.rootfsPropagation": propagation}, tmp_path)
    assert plan[0].target == "/" and plan[0].flags == host_side
    assert plan[-1] == MountStep("linux.rootfsPropagation", "/", flags=final, in_rootfs=False)
    assert type(plan[-2]).__name__ == "PivotRoot"


def test_mount_label_is_added_to_tmpfs_like_mounts_only(tmp_path, monkeypatch):
    """runc's FormatMountLabel: context="LABEL" in the data of every mount but binds, proc, sysfs and cgroup."""
    plan = _plan({"linux.mountLabel": "u:object_r:t:s0"}, tmp_path)
    data = {step.target: step.data for step in plan if isinstance(step, MountStep) and step.fstype}
    assert data["/dev"] == 'mode=755,size=65536k,context="u:object_r:t:s0"'
    assert data["/dev/mqueue"] == 'context="u:object_r:t:s0"'
    assert data["/proc"] is None and "context" not in (data["/sys"] or "")
    assert "context" not in (data["/sys/fs/cgroup"] or "")


def test_no_label_without_mount_label(tmp_path):
    plan = _plan({}, tmp_path)
    assert not any("context=" in (getattr(step, "data", None) or "") for step in plan)


@pytest.mark.parametrize("umask, expected", [(0o027, 0o027), (None, 0o022)])
def test_umask_goes_through_the_seam_before_the_identity_change(program_dir, umask, expected):
    """process.user.umask, or runc's 0o022 without one, set with umask(2) before setresuid."""
    changes = {"process.args": ["prog"], "process.env": [f"PATH={program_dir}"]}
    if umask is not None:
        changes["process.user.umask"] = umask
    fake = RecordingSyscalls()
    set_up_process(_spec(changes).process, fake)
    assert fake.arguments_of("umask") == [(expected,)]
    assert fake.names().index("umask") < fake.names().index("setresuid")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="PER_LINUX32 renames the machine on x86_64")
def test_real_personality_linux32_makes_uname_say_i686():
    """The real seam: in a forked child, personality(PER_LINUX32) makes uname(2) report i686."""
    from harness.runtime.syscalls import Syscalls
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            apply_personality(Personality("LINUX32"), Syscalls())
            os.write(write, os.uname().machine.encode())
        finally:
            os._exit(0)
    os.close(write)
    machine = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert machine == "i686"
