"""Generated conformance: hypothesis draws valid configs; bundled, runc and crun must show a container the same."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from harness.containers import Result

from . import oci_strategies as oci
from .test_conformance import available_runtimes

pytestmark = pytest.mark.requires("seccomp_filter")  # every case may carry a seccomp profile

# Each example runs up to three containers, under TCG about 20x slower than natively: keep the default small
# (8 examples took 160 s on 5.10 on a loaded runner, 12 would near the guests' per-test limit).
EXAMPLES = int(os.environ.get("KHARNESS_CONFORMANCE_EXAMPLES", "8"))


def host_facts() -> tuple[str, frozenset]:
    """What the expectation takes from the running kernel: this process's oom_score_adj (a runtime's child inherits
    it when the config sets none) and which /proc paths a mask may cover exist."""
    oom = Path("/proc/self/oom_score_adj").read_text().strip()
    return oom, frozenset(p for p in oci.MASK_CANDIDATES if os.path.exists(p))


def run_probe(runtime, bundles, config: dict) -> Result:
    """Run the probe once under `runtime` in a bundle of its own (removed afterwards)."""
    bundle = bundles.bundle(config)
    try:
        # A sabotaged runtime's name carries "+sabotage(...)": not characters of a container id.
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in runtime.name)
        return runtime.run(bundle, f"gen-{safe}-{uuid.uuid4().hex[:8]}")
    except (OSError, RuntimeError, ValueError) as error:  # a refusal (SpecError, ContainerError): a status like any
        return Result(-1, "", f"{type(error).__name__}: {error}")
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


def normalise(result: Result, name: str = "runc") -> dict:
    """The probe's view under runtime `name`, as compared with runc's: nothing is reduced but crun's root options.

    The probe prints only what the config determines (no pids, cgroup paths, device or inode numbers), so the raw
    mount options of / and of the tmpfs are compared whole, relatime and all. What differs by design is left out
    by the probe itself: crun masks a file with the host's /dev/null (devtmpfs), runc and ours with the container's
    (tmpfs), so the probe asks "a character device that reads empty", never which one; runc gives each container a
    session keyring, ours does not, so an unmasked /proc/keys is "open" whatever it lists; runc sets HOME, so the
    probe prints its own variable, not the environment. crun 1.8.1 mounts a writable rootfs without the nosuid and
    nodev of the host mount it lives on (a guest's /tmp), where runc and ours keep what the bind inherits: for crun
    only whether / is read-only is compared, since the rest comes from the host's mount, not from the config."""
    view = oci.parse(result.stdout)
    if name == "crun" and "root" in view:
        view["root"] = view["root"].split(",")[0]
    return view


def diff(reference: dict, other: dict, reference_name: str, name: str) -> str:
    """A unified diff of two views, one NAME=VALUE line each."""
    lines = lambda view: [f"{k}={v}" for k, v in sorted(view.items())]  # noqa: E731
    return "\n".join(difflib.unified_diff(lines(reference), lines(other), reference_name, name, lineterm=""))


@pytest.fixture(scope="module")
def compared(request, workdir) -> dict:
    """The runtimes to compare (runc the reference); the module is skipped with fewer than two."""
    found = available_runtimes(workdir, request.config)
    if len(found) < 2 or "runc" not in found:
        pytest.skip(f"the generated conformance suite compares with runc and needs two runtimes; found {sorted(found)}")
    return found


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=oci.cases())
def test_generated_configs_agree_with_runc(compared, bundles, case):
    """For a generated valid config (hostname, env, cwd, user, rlimits, no_new_privs, capabilities, oom_score_adj,
    read-only root, a tmpfs, masked paths, ipc sysctls, a seccomp profile), every runtime exits as runc does and its
    container sees what runc's sees: ids, hostname, cwd, env, limits, capability sets, oom_score_adj, sysctls, mount
    flags, masks, whether / is writable and how mkdir fails."""
    config = case.apply(bundles.config(["true"]))
    results = {name: run_probe(runtime, bundles, config) for name, runtime in compared.items()}
    statuses = {name: result.status for name, result in results.items()}
    stderr = {name: result.stderr.strip()[-400:] for name, result in results.items()}
    assert len(set(statuses.values())) == 1, \
        f"runtimes exit differently: {statuses}\nconfig edits: {case.describe()}\nstderr: {stderr}"
    views = {name: normalise(result, name) for name, result in results.items()}
    reference = views["runc"]
    assert reference.get("end") == "ok", f"runc did not run the probe to its end\nconfig edits: {case.describe()}\n" \
                                         f"stdout: {results['runc'].stdout}\nstderr: {stderr}"
    for name, view in views.items():
        # crun's root is compared as ro/rw only (see normalise), so runc's is too.
        reference_for = {**reference, "root": reference.get("root", "").split(",")[0]} if name == "crun" else reference
        assert view == reference_for, f"{name} differs from runc\nconfig edits: {case.describe()}\n" \
                                  f"{diff(reference_for, view, 'runc', name)}\nstderr: {stderr[name]}"
    # The reference itself against the config's expectation: keeps the model of the plain test below honest.
    want = oci.expected(config, case.mkdir_mode, *host_facts())
    seen = oci.reduce_for_expectation(reference)
    got = {key: seen.get(key) for key in want}
    assert got == want, f"runc differs from the config's expectation\nconfig edits: {case.describe()}\n" \
                        f"{diff(want, got, 'expected', 'runc')}"


# Hand-picked cases for one runtime against the expectation: every field away from its default at least once.
FIXED_CASES = {
    "defaults": oci.Case({}),
    "user-and-limits": oci.Case({
        "hostname": "kh-fixed", "process.env+": "KH_VAR=a b=c", "process.cwd": "/etc",
        "process.user": {"uid": 1000, "gid": 1001, "additionalGids": [1001, 7, 300]},
        "process.rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}], "process.noNewPrivileges": False,
        "process.oomScoreAdj": 500, "root.readonly": False}, mkdir_mode="700"),
    "root-capabilities": oci.Case({
        "process.capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"], "effective": ["CAP_KILL"],
                                 "permitted": ["CAP_CHOWN", "CAP_KILL"], "ambient": []},
        "process.noNewPrivileges": True, "root.readonly": False, "linux.sysctl": {"kernel.msgmax": "4096"},
        "mounts+": {"destination": oci.TMPFS_POINT, "type": "tmpfs", "source": "tmpfs",
                    "options": ["ro", "nodev", "size=128k"]},
        "linux.maskedPaths": ["/proc/keys", "/proc/acpi", "/proc/kcore"]}),
    "capabilities-without-nnp": oci.Case({
        "process.capabilities": {"bounding": ["CAP_FOWNER", "CAP_SETGID"], "effective": [],
                                 "permitted": ["CAP_SETGID"], "ambient": []},
        "process.noNewPrivileges": False, "linux.maskedPaths": ["/proc/timer_list"],
        "mounts+": {"destination": oci.TMPFS_POINT, "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=6k", "noexec", "nosuid"]}}),  # 6k: rounded up to whole pages
    "seccomp-eacces": oci.Case({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}}),
    "seccomp-masked-eq-holds": oci.Case({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30,
         "args": [{"index": 1, "value": 0o700, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30,
         "args": [{"index": 2, "value": 0o700, "valueTwo": 0o700, "op": "SCMP_CMP_MASKED_EQ"}]}]}}),
    # libseccomp masks valueTwo too: (0777 & 0700) == (0777 & 0700) holds although valueTwo is not 0700.
    "seccomp-masked-eq-datum-masked": oci.Case({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 1, "value": 0o700, "valueTwo": 0o777, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 2, "value": 0o700, "valueTwo": 0o777, "op": "SCMP_CMP_MASKED_EQ"}]}]}}),
    "seccomp-eq-misses": oci.Case({"linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 1, "value": 0o755, "op": "SCMP_CMP_EQ"}]},
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 2, "value": 0o755, "op": "SCMP_CMP_EQ"}]}]}}, mkdir_mode="750"),
}


@pytest.mark.usefixtures("plain_container_runs")
@pytest.mark.parametrize("case_name", sorted(FIXED_CASES))
def test_runtime_shows_what_the_config_asks(runtime, bundles, case_name):
    """The runtime under test alone (bundled by default), against observables computed from the config by the
    kernel's rules: uid, gid and groups, hostname, cwd, env, RLIMIT_NOFILE, capability sets after execve,
    no_new_privs, oom_score_adj, the sysctl, the tmpfs's flags and size, read-only root, masks, and mkdir failing
    with errnoRet exactly when the seccomp rule holds. Runs with one runtime installed, and fails under --sabotage."""
    case = FIXED_CASES[case_name]
    config = case.apply(bundles.config(["true"]))
    result = run_probe(runtime, bundles, config)
    assert result.status == 0, \
        f"{runtime.name} exited {result.status}\nconfig edits: {case.describe()}\n{result.stderr[-400:]}"
    want = oci.expected(config, case.mkdir_mode, *host_facts())
    seen = oci.reduce_for_expectation(oci.parse(result.stdout))
    got = {key: seen.get(key) for key in want}
    assert got == want, f"{runtime.name} differs from the config's expectation\nconfig edits: {case.describe()}\n" \
                        f"{diff(want, got, 'expected', runtime.name)}\nstdout: {result.stdout}"


def test_fixed_cases_edit_only_the_strategies_fields():
    """The hand-picked cases stay inside what the strategies generate (same fields), so both tests check one model."""
    for name, case in FIXED_CASES.items():
        assert set(case.edits) <= set(oci.FIELDS), f"{name}: edits outside the strategies' fields"
        assert case.mkdir_mode in oci.MKDIR_MODES, name
        json.dumps(case.edits)  # serialisable: it is what the failure messages show
