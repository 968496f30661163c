"""The same bundle (written by `runc spec`, edited only for args, terminal and an absolute root.path) under
runc, crun and the bundled runtime: the container sees the same hostname, ids, uid map, cgroup, mounts and
PID 1. (runc refuses a symlinked rootfs, so the shared busybox rootfs is named by its absolute path.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest

from harness.containers import make_runtime

# What each command prints, reduced to what must agree between runtimes (and why the rest may differ).
COMMANDS = {
    "hostname": ["hostname"],
    "id": ["id"],
    "uid_map": ["cat", "/proc/self/uid_map"],
    "cgroup": ["cat", "/proc/self/cgroup"],
    "proc_pid1": ["ls", "/proc/1"],
    "status": ["cat", "/proc/1/status"],
    "mount": ["cat", "/proc/self/mounts"],
    # The new network namespace's links and their flags: runc brings lo up (0x9: IFF_UP|IFF_LOOPBACK).
    "links": ["sh", "-c", "for l in /sys/class/net/*; do echo ${l##*/} $(cat $l/flags); done"],
}
STATUS_FIELDS = ("Name", "Pid", "PPid", "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                 "CapAmb", "NoNewPrivs", "Seccomp")


def normalise(what: str, out: str, cid: str, masked: frozenset = frozenset()) -> object:
    if what == "status":
        # Memory and scheduling counters differ run to run; identity, credentials and capabilities must not.
        return {k: v for k, v in (l.split(":", 1) for l in out.splitlines() if ":" in l) if k in STATUS_FIELDS}
    if what == "mount":
        # Mount points, types and read-only-ness; size= and similar defaults may differ by runtime.
        # On a v1/v2 hybrid host runc mounts the v1 hierarchies under /sys/fs/cgroup and ours cgroup2:
        # by design, so that subtree is compared only where cgroup v2 is pure.
        from harness import features
        hybrid = not features.has("cgroup2")
        # A masked path is masked by a bind of some /dev/null: runc binds the container's (tmpfs, rw),
        # crun the host's (devtmpfs, ro). That it is masked must agree; with what need not.
        return sorted((f[1], "masked", "-") if f[1] in masked else
                      (f[1], f[2], "ro" if "ro" in f[3].split(",") else "rw")
                      for f in (l.split() for l in out.splitlines())
                      if not (hybrid and f[1].startswith("/sys/fs/cgroup")))
    if what == "cgroup":
        # Each runtime picks its own default parent (runc "/<id>", ours "/kharness/<id>"): what must
        # agree is the hierarchy and that the container got a cgroup of its own, named after its id.
        return sorted((line.rsplit(":", 1)[0], line.rstrip("/").endswith(cid)) for line in out.splitlines())
    if what == "uid_map":
        return [l.split() for l in out.splitlines()]
    return out.strip()


@pytest.fixture(scope="module")
def runc_spec_bundle(workdir, bundles):
    """A bundle whose config.json is exactly what `runc spec` wrote, rootfs from the busybox builder."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed: it writes the reference config (apt-get install runc)")
    bundle = workdir / f"runc-spec-{uuid.uuid4().hex[:6]}"
    bundle.mkdir()
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    return bundle


def available_runtimes(workdir, config) -> dict:
    """runc (the reference) and the runtimes compared with it: those --runtime selects, else bundled and crun.
    --sabotage breaks the compared ones, never the reference, so a sabotaged runtime shows as a difference."""
    from harness import features
    from harness.containers import SabotagedRuntime
    from harness.plugin import runtimes_or
    compared = [name for name in runtimes_or(config, ["bundled", "crun"]) if name != "runc"]
    # crun refuses a v1/v2 hybrid host ("cgroups in hybrid mode not supported"): it is compared in guests.
    if not features.has("cgroup2"):
        compared = [name for name in compared if name != "crun"]
    sabotage = config.getoption("--sabotage")
    found = {}
    for name in ["runc", *compared]:
        state = workdir / f"conformance-{name.replace('/', '_')}"
        state.mkdir(exist_ok=True)
        try:
            runtime = make_runtime(name, state)
        except LookupError:
            continue  # runc or crun not installed (the default list only: a selected one was checked at configure)
        found[runtime.name if name != "runc" else "runc"] = \
            SabotagedRuntime(runtime, sabotage) if sabotage and name != "runc" else runtime
    return found


@pytest.mark.parametrize("what", sorted(COMMANDS))
def test_runtimes_agree(request, runc_spec_bundle, workdir, bundles, what):
    """Every available runtime gives the container the same view for this command."""
    from harness import features
    if what == "cgroup" and not features.has("cgroup2"):
        pytest.skip("the bundled runtime manages cgroup v2 only; on this v1/v2 hybrid host runc also "
                    "creates v1 cgroups, so the views differ by design")
    config = json.loads((runc_spec_bundle / "config.json").read_text())
    config["process"]["args"] = COMMANDS[what]
    config["process"]["terminal"] = False  # runc spec asks for a console; the suites run unattended
    config["root"]["path"] = str(bundles.rootfs)
    views, errors = {}, {}
    for name, runtime in available_runtimes(workdir, request.config).items():
        bundle = runc_spec_bundle.parent / f"{runc_spec_bundle.name}-{name}-{what}"
        bundle.mkdir(exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(config))
        cid = f"conf-{name}-{uuid.uuid4().hex[:6]}"
        result = runtime.run(bundle, cid)
        if result.status != 0:
            errors[name] = result.stderr.strip()[-300:]
        else:
            views[name] = normalise(what, result.stdout, cid, frozenset(config["linux"]["maskedPaths"]))
    if len(views) + len(errors) < 2:
        pytest.skip(f"fewer than two runtimes available: {sorted(views) + sorted(errors)}")
    assert not errors, f"runtimes failed to run the runc spec bundle: {errors}"
    reference = views.get("runc")
    for name, view in views.items():
        assert view == reference, f"{name} differs from runc for {what}:\n{name}: {view}\nrunc: {reference}"
