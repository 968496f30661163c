"""Integration tests as root on the running kernel: busybox containers through `python -m harness.runtime`."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from harness.runtime import api
from harness.runtime.rootfs import root_is_initramfs
from harness.runtime.rootfs_builder import busybox_path

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root (namespaces, mounts, pivot_root)"),
    pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}"),
]

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_SECONDS = 60
USER_NAMESPACE = {"type": "user"}
ID_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def runtime(*arguments: str, root: str) -> subprocess.CompletedProcess:
    """Run `python -m harness.runtime --root ROOT ARGUMENTS...` and capture its output."""
    environment = dict(os.environ, PYTHONPATH=REPOSITORY)
    return subprocess.run([sys.executable, "-m", "harness.runtime", "--root", root, *arguments], env=environment,
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def run_container(make_bundle, state_root, args: list[str], edit=None) -> subprocess.CompletedProcess:
    """`run` a fresh bundle with `args` under a fresh id."""
    return runtime("run", "--bundle", make_bundle(args, edit), f"c-{uuid.uuid4().hex[:8]}", root=state_root)


def test_true_exits_zero(make_bundle, state_root):
    """A container running /bin/true exits 0 and prints nothing."""
    result = run_container(make_bundle, state_root, ["/bin/true"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_exit_status_propagates(make_bundle, state_root):
    """`sh -c 'exit 7'` makes `run` exit 7."""
    assert run_container(make_bundle, state_root, ["sh", "-c", "exit 7"]).returncode == 7


def test_death_by_signal_is_128_plus_signal(make_bundle, state_root):
    """A container process that SIGKILLs itself makes `run` exit 137. Without a pid namespace, since the kernel
    ignores a SIGKILL that the PID 1 of a namespace sends itself."""
    def without_pid_namespace(config):
        config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]
        config["mounts"] = [m for m in config["mounts"] if m["type"] != "proc"] + [
            {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}]
        config["linux"]["maskedPaths"] = config["linux"]["readonlyPaths"] = []
    result = run_container(make_bundle, state_root, ["sh", "-c", "kill -9 $$"], without_pid_namespace)
    assert result.returncode == 128 + signal.SIGKILL, result.stderr


@pytest.mark.parametrize("namespaces", [[], [{"type": "time"}]], ids=["direct", "through-helper"])
def test_init_killed_from_outside_reports_the_signal(make_bundle, state_root, namespaces):
    """Through the library: create, start, kill the PID 1 with SIGKILL; wait returns 137 and delete cleans up.
    With a time namespace the container is forked by a helper that must die of the same signal."""
    bundle = make_bundle(["sleep", "30"], lambda config: config["linux"]["namespaces"].extend(namespaces))
    api.create(bundle, "victim", root=state_root)
    try:
        api.start("victim", root=state_root)
        assert api.state("victim", root=state_root)["status"] == "running"
        api.kill("victim", "KILL", root=state_root)
        assert api.wait("victim", root=state_root) == 137
    finally:
        api.delete("victim", force=True, root=state_root)
    assert api.list_containers(state_root) == []


def test_process_settings_reach_the_program(make_bundle, state_root):
    """user, additionalGids, cwd, env, umask, an rlimit, no_new_privs and a (net-namespaced) sysctl all apply."""
    def settings(config):
        process = config["process"]
        process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 0o027}
        process["cwd"] = "/tmp"
        process["env"].append("GREETING=hello")
        process["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    script = ("id -u; id -g; id -G; pwd; echo $GREETING; umask; ulimit -n; cat /proc/sys/net/ipv4/ip_forward; "
              "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")
    result = run_container(make_bundle, state_root, ["sh", "-c", script], settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1000", "1000", "1000", "5", "/tmp", "hello", "0027", "256", "1",
                                     "CapEff:", "0000000000000000", "NoNewPrivs:", "1"]


def test_missing_program_fails_create_with_its_name(make_bundle, state_root):
    """A program that is not in the rootfs fails before start, with `error:` naming process.args[0]."""
    result = run_container(make_bundle, state_root, ["no-such-program"])
    assert result.returncode == 1
    assert result.stderr == "error: process.args[0]: executable file 'no-such-program' not found in $PATH\n"
    assert os.listdir(state_root) == []


def test_library_run_writes_to_the_given_stdout(make_bundle, state_root, tmp_path):
    """api.run with stdout=<file> sends the container's output there and returns its status."""
    with open(tmp_path / "out", "w+") as output:
        status = api.run(make_bundle(["sh", "-c", "hostname; exit 3"]), "to-file", root=state_root, stdout=output)
        output.seek(0)
        assert (status, output.read()) == (3, "kharness-test\n")
    assert api.list_containers(state_root) == []


def test_hostname_is_the_specs(make_bundle, state_root):
    """The container's uts namespace carries the spec's hostname."""
    assert run_container(make_bundle, state_root, ["hostname"]).stdout == "kharness-test\n"


def test_container_process_is_pid_1(make_bundle, state_root):
    """In a new pid namespace the container's process is PID 1 with parent 0: /proc/1 is the container's."""
    script = "echo $$; cat /proc/1/status | grep -E '^(Name|PPid)'"
    result = run_container(make_bundle, state_root, ["sh", "-c", script])
    assert result.stdout.split() == ["1", "Name:", "sh", "PPid:", "0"]


def test_root_is_the_rootfs_not_the_host(make_bundle, state_root, rootfs):
    """`ls /` lists the rootfs' entries, and a host-only directory (the repository's) is not there."""
    listing = run_container(make_bundle, state_root, ["ls", "-1", "/"]).stdout.split()
    assert set(listing) == set(os.listdir(rootfs))
    host_only = set(os.listdir("/")) - set(os.listdir(rootfs))
    assert host_only and host_only.isdisjoint(listing)


def test_old_root_is_not_reachable(make_bundle, state_root):
    """After pivot_root and the detach, no mount of the host's root filesystem at its own root ("/") is left.

    The rootfs may or may not live on the host root's filesystem (in the guests /tmp is a tmpfs of its own, with a
    venv under /tmp it is not), so only the old root itself is looked for, whatever its mount point.
    """
    host_root = os.stat("/")
    device = f"{os.major(host_root.st_dev)}:{os.minor(host_root.st_dev)}"
    mountinfo = [line.split() for line in run_container(make_bundle, state_root, ["cat", "/proc/self/mountinfo"])
                 .stdout.splitlines()]
    assert any(fields[4] == "/" for fields in mountinfo), mountinfo
    old_root = [fields for fields in mountinfo if fields[2] == device and fields[3] == "/"]
    assert old_root == [], mountinfo
    assert run_container(make_bundle, state_root, ["ls", REPOSITORY]).returncode != 0


def test_masked_path_reads_empty(make_bundle, state_root):
    """A masked file (/proc/keys, which the host has) reads as empty: /dev/null is bound over it."""
    assert os.path.exists("/proc/keys")
    result = run_container(make_bundle, state_root, ["sh", "-c", "wc -c < /proc/keys"])
    assert result.stdout.strip() == "0"


def test_readonly_path_refuses_writes(make_bundle, state_root):
    """/proc/sys is a read-only path: writing a (uts-namespaced) sysctl there fails with EROFS."""
    result = run_container(make_bundle, state_root, ["sh", "-c", "echo x > /proc/sys/kernel/domainname"])
    assert result.returncode != 0 and "Read-only file system" in result.stderr


def test_readonly_root_refuses_writes(make_bundle, state_root):
    """root.readonly makes / read-only while /dev/shm (a tmpfs) stays writable."""
    result = run_container(make_bundle, state_root, ["sh", "-c", "touch /x; echo $?; touch /dev/shm/x; echo $?"])
    assert result.stdout.split() == ["1", "0"] and "Read-only file system" in result.stderr


def test_run_leaves_no_mount_state_or_namespace_behind(make_bundle, state_root):
    """After `run` the host's mount table is unchanged (no mount, no nsfs bind) and the state root is empty."""
    with open("/proc/self/mountinfo", encoding="utf-8") as before_file:
        before = before_file.read()
    assert run_container(make_bundle, state_root, ["/bin/true"]).returncode == 0
    with open("/proc/self/mountinfo", encoding="utf-8") as after_file:
        assert after_file.read() == before
    assert os.listdir(state_root) == []


def test_user_namespace_shows_its_uid_map(make_bundle, state_root):
    """With a user namespace mapping 0 -> 100000 (65536 ids), /proc/self/uid_map in the container shows it."""
    def with_user_namespace(config):
        config["linux"]["namespaces"] += [USER_NAMESPACE, {"type": "cgroup"}]
        config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = ID_MAP
    result = run_container(make_bundle, state_root, ["cat", "/proc/self/uid_map"], with_user_namespace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "100000", "65536"]


def test_time_namespace_offsets_apply(make_bundle, state_root):
    """A time namespace with a boottime offset of 10 days shows an uptime of more than 10 days."""
    def with_time_namespace(config):
        config["linux"]["namespaces"].append({"type": "time"})
        config["linux"]["timeOffsets"] = {"boottime": {"secs": 864000, "nanosecs": 0}}
    result = run_container(make_bundle, state_root, ["cat", "/proc/uptime"], with_time_namespace)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[0]) >= 864000


def test_joining_a_uts_namespace_by_path(make_bundle, state_root):
    """A container that joins another's uts namespace by path sees that container's hostname."""
    host = make_bundle(["sleep", "30"], lambda config: config.update(hostname="shared-uts"))
    pid = api.create(host, "uts-owner", root=state_root)
    try:
        def join_uts(config):
            config.pop("hostname")
            config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "uts"] + [
                {"type": "uts", "path": f"/proc/{pid}/ns/uts"}]
        assert run_container(make_bundle, state_root, ["hostname"], join_uts).stdout == "shared-uts\n"
    finally:
        api.delete("uts-owner", force=True, root=state_root)


def test_cli_lifecycle_create_start_kill_delete(make_bundle, state_root, tmp_path):
    """create -> created, start -> running, kill KILL -> stopped, delete -> gone, each through the CLI."""
    bundle = make_bundle(["sleep", "30"])
    with open(tmp_path / "output", "w") as output:  # the container keeps create's stdio open
        subprocess.run([sys.executable, "-m", "harness.runtime", "--root", state_root, "create", "--bundle", bundle,
                        "life"], env=dict(os.environ, PYTHONPATH=REPOSITORY), stdout=output, stderr=output,
                       check=True, timeout=TIMEOUT_SECONDS)

    def status() -> str:
        return json.loads(runtime("state", "life", root=state_root).stdout)["status"]
    assert status() == "created"
    assert runtime("start", "life", root=state_root).returncode == 0
    assert status() == "running"
    assert runtime("ps", "--format", "json", "life", root=state_root).stdout.strip() == \
        f"[{json.loads(runtime('state', 'life', root=state_root).stdout)['pid']}]"
    refused = runtime("delete", "life", root=state_root)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and "running" in refused.stderr
    assert runtime("kill", "life", "KILL", root=state_root).returncode == 0
    assert runtime("delete", "--force", "life", root=state_root).returncode == 0
    assert runtime("list", "--quiet", root=state_root).stdout == ""


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_same_bundle_under_runc_and_ours_looks_the_same(tmp_path, rootfs):
    """A bundle from `runc spec` (edited only for args and terminal) shows the same hostname, uid_map, /proc pids
    and PID 1 status under runc and under this runtime."""
    bundle = tmp_path / "runc-bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True, timeout=TIMEOUT_SECONDS)
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    config = json.loads((bundle / "config.json").read_text())
    probes = {
        "hostname": ["hostname"],
        "uid_map": ["cat", "/proc/self/uid_map"],
        # A shell glob, not `ls | grep`: how many of a pipeline's processes a listing catches is a race.
        "proc pids": ["sh", "-c", "echo /proc/[0-9]*"],
        "pid 1": ["sh", "-c", "cat /proc/1/status | grep -E '^(Name|Pid|PPid)'"],
    }
    # pivot_root cannot leave an initramfs (a harness guest's root): runc needs to be told, ours falls back itself.
    no_pivot = ["--no-pivot"] if root_is_initramfs() else []
    outputs = {}
    for name, args in probes.items():
        config["process"].update(args=args, terminal=False)
        (bundle / "config.json").write_text(json.dumps(config))
        runc = subprocess.run(["runc", "--root", str(tmp_path / "runc-state"), "run", *no_pivot, "probe"], cwd=bundle,
                              capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        ours = runtime("run", "--bundle", str(bundle), "probe", root=str(tmp_path / "our-state"))
        assert runc.returncode == 0 and ours.returncode == 0, (name, runc.stderr, ours.stderr)
        outputs[name] = (runc.stdout, ours.stdout)
    assert {name: pair[1] for name, pair in outputs.items()} == {name: pair[0] for name, pair in outputs.items()}
    assert outputs["hostname"][1] == "runc\n" and outputs["pid 1"][1].split()[:2] == ["Name:", "sh"]
    assert outputs["proc pids"][1] == "/proc/1\n"  # the shell alone: nothing of the runtime is left inside


def test_exec_runs_inside_the_running_container(make_bundle, state_root):
    """`exec` joins the container's namespaces: same hostname and root, not PID 1, and its exit status returns."""
    api.create(make_bundle(["sleep", "30"]), "target", root=state_root)
    try:
        refused = runtime("exec", "target", "true", root=state_root)
        assert refused.returncode == 1 and "is not running" in refused.stderr
        api.start("target", root=state_root)
        result = runtime("exec", "target", "sh", "-c", "hostname; echo $$; ls /; exit 3", root=state_root)
        assert result.returncode == 3, result.stderr
        hostname, pid, *listing = result.stdout.split()
        assert hostname == "kharness-test" and pid != "1" and "bin" in listing and "work" not in listing
    finally:
        api.delete("target", force=True, root=state_root)


def _wait_for_pids(container_id: str, state_root: str, count: int) -> list[int]:
    """Poll `ps` until the container has `count` processes (a deadline, not a sleep)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(pids := api.ps(container_id, root=state_root)) < count:
        assert time.monotonic() < deadline, f"container {container_id} never had {count} processes: {pids}"
        time.sleep(0.05)
    return pids


def test_kill_all_reaches_every_process(make_bundle, state_root):
    """`kill --all KILL` signals all three processes (through the cgroup where the host gives one, else the pid
    namespace): the init dies of SIGKILL and `ps` lists nothing afterwards."""
    api.create(make_bundle(["sh", "-c", "sleep 30 & sleep 30 & wait"]), "everyone", root=state_root)
    api.start("everyone", root=state_root)
    _wait_for_pids("everyone", state_root, 3)
    result = runtime("kill", "--all", "everyone", "KILL", root=state_root)
    assert result.returncode == 0, result.stderr
    assert api.wait("everyone", root=state_root) == 128 + signal.SIGKILL
    assert api.ps("everyone", root=state_root) == []
