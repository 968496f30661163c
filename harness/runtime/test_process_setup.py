"""Tests of the in-container process set-up and of namespace handling, against the recording fake (no root)."""

import os

import pytest

from harness.runtime import constants as c
from harness.runtime.cgroups import check_resources
from harness.runtime.errors import ContainerError, SpecError, SyscallError
from harness.runtime.namespaces import check_namespaces, enter_time_namespace, join_namespaces, \
    needs_intermediate_stage, new_namespace_flags, write_id_maps
from harness.runtime import exec_stub
from harness.runtime.process_env import with_home
from harness.runtime.process_setup import apply_capabilities, exec_process, find_executable, last_capability, \
    set_up_process
from harness.runtime.recording_syscalls import RecordingSyscalls
from harness.runtime.spec import load_spec
from harness.runtime.syscalls import Syscalls
from harness.runtime.test_spec import edited, runc_config

USER_NAMESPACE_MAPS = {
    "linux.namespaces[5]": {"type": "user"},
    "linux.uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "linux.gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


def test_runc_default_process_is_set_up_in_runc_order(program_dir):
    """cwd, rlimits, bounding drop, keepcaps around the uid change, capset, ambient cleared, no_new_privs last."""
    spec = load_spec(edited({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"]}))
    fake = RecordingSyscalls()
    assert set_up_process(spec.process, fake) == f"{program_dir}/prog"
    names = fake.names()
    assert fake.calls[:2] == [("chdir", ("/",)), ("setrlimit", (c.RLIMITS["RLIMIT_NOFILE"], 1024, 1024))]
    dropped = [arguments[1] for name, arguments in fake.calls if name == "prctl" and arguments[0] == c.PR_CAPBSET_DROP]
    kept = {c.CAPABILITIES[name] for name in ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")}
    assert kept.isdisjoint(dropped) and len(dropped) >= len(c.CAPABILITIES) - len(kept)
    identity = [call for call in fake.calls if call[0] in ("setgroups", "setresgid", "setresuid")]
    assert identity == [("setgroups", ((),)), ("setresgid", (0, 0, 0)), ("setresuid", (0, 0, 0))]
    assert names.index("setresuid") < names.index("capset")
    assert fake.arguments_of("capset") == [(sum(1 << bit for bit in kept), sum(1 << bit for bit in kept), 0)]
    assert fake.calls[-1] == ("prctl", (c.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    # Ambient caps that are not inheritable would be refused by the kernel: only CLEAR_ALL is sent.
    ambient = [arguments for name, arguments in fake.calls if name == "prctl" and arguments[0] == c.PR_CAP_AMBIENT]
    assert ambient == [(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)]


def test_ambient_capabilities_that_are_inheritable_are_raised(program_dir):
    """An ambient capability also in permitted and inheritable is raised with PR_CAP_AMBIENT_RAISE."""
    spec = load_spec(edited({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"],
                             "process.capabilities.inheritable": ["CAP_KILL"]}))
    fake = RecordingSyscalls()
    set_up_process(spec.process, fake)
    assert ("prctl", (c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, c.CAPABILITIES["CAP_KILL"], 0, 0)) in fake.calls


def test_user_and_groups_come_from_the_spec(program_dir):
    """uid, gid and additionalGids reach setgroups/setresgid/setresuid; no capabilities means no capset."""
    spec = load_spec(_without_capabilities(program_dir))
    fake = RecordingSyscalls()
    set_up_process(spec.process, fake)
    assert ("setgroups", ((5, 6),)) in fake.calls and ("setresuid", (1000, 1000, 1000)) in fake.calls
    assert "capset" not in fake.names()


def _without_capabilities(program_dir) -> dict:
    """runc's config running `prog` as uid 1000 with two extra groups and no `capabilities` object."""
    config = edited({"process.args": [f"{program_dir}/prog"],
                     "process.user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6]}})
    del config["process"]["capabilities"]
    return config


def test_missing_executable_names_process_args():
    """A program not found in PATH is reported before the container starts, naming process.args[0]."""
    with pytest.raises(ContainerError, match=r"process\.args\[0\]: executable file 'no-such' not found in \$PATH"):
        find_executable("no-such", ("PATH=/nonexistent",))


def test_unreachable_cwd_names_process_cwd(program_dir):
    """A cwd that chdir refuses is reported as process.cwd with the syscall's error."""
    spec = load_spec(edited({"process.args": [f"{program_dir}/prog"]}))
    fake = RecordingSyscalls()
    fake.fail("chdir", 2)
    with pytest.raises(ContainerError, match=r"process\.cwd: chdir\('/'\) failed: ENOENT"):
        set_up_process(spec.process, fake)


def test_exec_passes_args_and_env_verbatim():
    """execve gets the resolved path, process.args and process.env unchanged (HOME given, so none is added)."""
    spec = load_spec(edited({"process.env": ["PATH=/bin", "TERM=xterm", "HOME=/home/x"]}))
    fake = RecordingSyscalls()
    exec_process("/bin/sh", spec.process, fake)
    assert fake.calls == [("execve", ("/bin/sh", ("sh",), ("PATH=/bin", "TERM=xterm", "HOME=/home/x")))]


def test_new_namespace_flags_cover_new_namespaces_but_not_time_or_joined():
    """runc's default namespaces become clone flags; a joined one (path) and the time namespace do not."""
    assert new_namespace_flags(load_spec(runc_config())) == (c.CLONE_NEWPID | c.CLONE_NEWNET | c.CLONE_NEWIPC
                                                             | c.CLONE_NEWUTS | c.CLONE_NEWNS)
    joined = load_spec(edited({"linux.namespaces[1]": {"type": "network", "path": "/proc/1/ns/net"},
                               "linux.namespaces[5]": {"type": "time"}}))
    assert not new_namespace_flags(joined) & (c.CLONE_NEWNET | c.CLONE_NEWTIME)
    assert needs_intermediate_stage(joined) and not needs_intermediate_stage(load_spec(runc_config()))


def test_join_order_is_user_first_and_mount_last():
    """Namespaces given by path are joined user first, mount last, each fd opened, setns'd and closed."""
    spec = load_spec(edited({"linux.namespaces": [
        {"type": "mount", "path": "/proc/7/ns/mnt"}, {"type": "network", "path": "/proc/7/ns/net"},
        {"type": "user", "path": "/proc/7/ns/user"}, {"type": "pid"}, {"type": "uts"}]}))
    fake = RecordingSyscalls()
    join_namespaces(spec, fake)
    opened = [arguments[0] for arguments in fake.arguments_of("open")]
    assert opened == ["/proc/7/ns/user", "/proc/7/ns/net", "/proc/7/ns/mnt"]
    assert [arguments[1] for arguments in fake.arguments_of("setns")] == [c.CLONE_NEWUSER, c.CLONE_NEWNET,
                                                                         c.CLONE_NEWNS]
    assert len(fake.arguments_of("close")) == 3


def test_failed_join_names_the_namespace_entry():
    """A namespace path setns refuses is reported as linux.namespaces[i].path with the call and errno."""
    spec = load_spec(edited({"linux.namespaces[1]": {"type": "network", "path": "/proc/7/ns/net"}}))
    fake = RecordingSyscalls()
    fake.fail("setns", 22)
    with pytest.raises(ContainerError, match=r"linux\.namespaces\[1\]\.path \(/proc/7/ns/net\): setns.*EINVAL"):
        join_namespaces(spec, fake)


def test_time_namespace_is_unshared_then_offsets_written(tmp_path):
    """unshare(CLONE_NEWTIME), then one write of "clockid secs nanosecs" lines to /proc/self/timens_offsets."""
    (tmp_path / "self").mkdir()
    offsets = tmp_path / "self" / "timens_offsets"
    offsets.write_text("")
    spec = load_spec(edited({"linux.namespaces[5]": {"type": "time"},
                             "linux.timeOffsets": {"monotonic": {"secs": 86400}, "boottime": {"nanosecs": 5}}}))
    fake = RecordingSyscalls()
    enter_time_namespace(spec, fake, proc=str(tmp_path))
    assert fake.calls == [("unshare", (c.CLONE_NEWTIME,))]
    assert offsets.read_text() == "1 86400 0\n7 0 5\n"


def test_id_maps_are_written_to_the_child(tmp_path, monkeypatch):
    """uid_map and gid_map get one line per mapping; an unprivileged runtime denies setgroups first."""
    child = tmp_path / "4242"
    child.mkdir()
    for name in ("uid_map", "gid_map", "setgroups"):
        (child / name).write_text("")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    write_id_maps(load_spec(edited(USER_NAMESPACE_MAPS)), 4242, proc=str(tmp_path))
    assert (child / "uid_map").read_text() == "0 100000 65536\n"
    assert (child / "gid_map").read_text() == "0 100000 65536\n"
    assert (child / "setgroups").read_text() == "deny"


def test_failed_id_map_write_names_the_json_path(tmp_path):
    """A map the kernel refuses is reported as linux.gidMappings with the file and the text written."""
    with pytest.raises(ContainerError, match=r"linux\.gidMappings: writing '0 100000 65536' to .*/gid_map failed"):
        write_id_maps(load_spec(edited(USER_NAMESPACE_MAPS)), 4242, proc=str(tmp_path / "missing"))


def test_a_mount_namespace_is_required():
    """Without a mount namespace the rootfs cannot be pivoted: a SpecError naming linux.namespaces."""
    config = edited({"linux.namespaces": [{"type": "pid"}, {"type": "uts"}]})
    with pytest.raises(SpecError, match=r"linux\.namespaces: a mount namespace is required"):
        check_namespaces(load_spec(config))


def test_limits_on_a_host_without_v2_controllers_say_so(tmp_path):
    """A memory limit on a hybrid host (cgroup2 mounted, cgroup.controllers empty) names the path and the reason."""
    hierarchy = tmp_path / "unified"
    hierarchy.mkdir()
    (hierarchy / "cgroup.controllers").write_text("\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"41 31 0:38 / {hierarchy} rw,relatime - cgroup2 cgroup2 rw\n")
    resources = load_spec(edited({"linux.resources.memory": {"limit": 1 << 20}})).linux.resources
    with pytest.raises(ContainerError, match=r"linux\.resources\.memory: the host's cgroup v2 hierarchy at .* has "
                                             r"no controllers .*memory limits cannot be applied"):
        check_resources(resources, mountinfo=str(mountinfo))


def test_capset_masks_are_64_bit():
    """Capabilities above 31 land in the upper half of the mask passed to capset."""
    spec = load_spec(edited({"process.capabilities": {"bounding": ["CAP_BPF"], "effective": ["CAP_BPF"],
                                                      "permitted": ["CAP_BPF"]}}))
    fake = RecordingSyscalls()
    apply_capabilities(spec.process.capabilities, fake)
    assert fake.arguments_of("capset") == [(1 << 39, 1 << 39, 0)]


def test_new_seam_calls_name_themselves_in_errors(tmp_path):
    """chdir and setrlimit through the real seam fail as SyscallErrors naming the call and its arguments."""
    with pytest.raises(SyscallError, match=r"chdir\('.*/missing'\) failed: ENOENT"):
        Syscalls().chdir(str(tmp_path / "missing"))
    # Above fs.nr_open, which not even root may exceed.
    with pytest.raises(SyscallError, match=r"setrlimit\(RLIMIT_NOFILE, 1099511627776, 1099511627776\) failed: EPERM"):
        Syscalls().setrlimit(c.RLIMITS["RLIMIT_NOFILE"], 1 << 40, 1 << 40)


def test_last_capability_is_asked_of_the_kernel_not_of_proc():
    """PR_CAPBSET_READ, binary-searched: EINVAL above 40 gives 40 in at most 6 calls, and no file is opened (a
    container's image could put any number at /proc/sys/kernel/cap_last_cap)."""
    fake = RecordingSyscalls()
    fake.fail("prctl", 22, when=lambda arguments: arguments[0] == c.PR_CAPBSET_READ and arguments[1] > 40)
    assert last_capability(fake) == 40
    assert len(fake.arguments_of("prctl")) <= 6 and "open" not in fake.names()


def test_bounding_set_drops_up_to_the_given_last_capability(program_dir):
    """Every capability up to last_cap that the bounding set does not name is dropped, none beyond."""
    spec = load_spec(edited({"process.args": ["prog"], "process.env": [f"PATH={program_dir}"]}))
    fake = RecordingSyscalls()
    set_up_process(spec.process, fake, last_cap=45)
    dropped = [arguments[1] for name, arguments in fake.calls if name == "prctl" and arguments[0] == c.PR_CAPBSET_DROP]
    assert max(dropped) == 45 and len(dropped) == 46 - 3


def test_cwd_outside_the_root_is_refused(program_dir, monkeypatch):
    """A cwd the kernel reports unreachable from our root (getcwd fails: a host directory through a leaked fd,
    CVE-2024-21626) is refused even though chdir succeeded."""
    spec = load_spec(edited({"process.args": [f"{program_dir}/prog"], "process.cwd": "/proc/self/fd/7"}))

    def unreachable() -> str:
        raise FileNotFoundError(2, "No such file or directory")
    monkeypatch.setattr(os, "getcwd", unreachable)
    with pytest.raises(ContainerError, match=r"process\.cwd: '/proc/self/fd/7' resolves outside the container's root"):
        set_up_process(spec.process, RecordingSyscalls())


@pytest.mark.skipif(os.uname().machine != exec_stub.MACHINE, reason="the exec stub is x86_64 code")
def test_exec_with_a_channel_goes_through_the_sealed_stub():
    """With the runtime's channel, execve runs the stub's memfd, argv carrying the marker, the report fd, the
    resolved path and process.args; the environment unchanged."""
    spec = load_spec(runc_config())
    fake = RecordingSyscalls()
    read_end, write_end = os.pipe()
    try:
        exec_process("/bin/sh", spec.process, fake, report_fd=write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    ((path, argv, env),) = fake.arguments_of("execve")
    assert path == exec_stub.stub_fd()
    assert argv[0][0] == exec_stub.MARKER and list(argv[1:]) == [b"/bin/sh", b"sh"]
    assert env == with_home(spec.process.env, 0)
    os.close(argv[0][1])  # the report descriptor the stub would have closed on its exec
