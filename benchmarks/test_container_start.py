"""Container start-to-exit latency of /bin/true: the bundled runtime (library API and CLI), runc and crun,
on the same busybox bundle and kernel; and the bundled runtime with 1, 2, 4, 8 concurrent creators."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.containers import BundleFactory, make_runtime

RUNTIMES = ["bundled", "bundled-cli", "runc", "crun"]
_ids = itertools.count()


@pytest.fixture(scope="module")
def true_bundle(as_root):
    """One bundle (runc spec defaults, busybox rootfs) running /bin/true, shared by every runtime."""
    work = Path(tempfile.mkdtemp(prefix="kharness-bench-"))
    os.chmod(work, 0o755)
    factory = BundleFactory(work / "bundles")
    config = factory.config(["/bin/true"])
    # The default deny-all device rule needs a cgroup v2 device program: keep it only where one can attach.
    yield factory.bundle(config), work
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("runtime_name", RUNTIMES)
def test_container_run_true(benchmark, true_bundle, rounds, runtime_name):
    """create + start + wait + delete of a container running /bin/true: one API call, or one CLI `run`."""
    bundle, work = true_bundle
    state = work / f"state-{runtime_name}"
    state.mkdir(exist_ok=True)
    try:
        runtime = make_runtime(runtime_name, state)
    except LookupError as exc:
        pytest.skip(str(exc))
    probe = runtime.run(bundle, f"probe-{runtime_name}")
    if probe.status != 0:
        pytest.skip(f"{runtime_name} cannot run the bundle here: {probe.stderr.strip()[-300:]}")
    cli = runtime_name != "bundled"
    results = []
    benchmark.pedantic(lambda: results.append(runtime.run(bundle, f"b{next(_ids)}").status),
                       rounds=max(5, rounds // 3) if cli else rounds, warmup_rounds=1)
    benchmark.extra_info["runtime"] = runtime_name
    assert set(results) == {0}


def _creator(bundle: Path, state: Path, count: int) -> int:
    runtime = make_runtime("bundled", state)
    failures = 0
    for _ in range(count):
        failures += runtime.run(bundle, f"p{os.getpid()}-{next(_ids)}").status != 0
    return failures


@pytest.mark.parametrize("creators", [1, 2, 4, 8])
def test_concurrent_container_creation(benchmark, true_bundle, rounds, creators):
    """Wall time for N processes, each running 3 /bin/true containers with the library API, at once."""
    bundle, work = true_bundle
    state = work / "state-concurrent"
    state.mkdir(exist_ok=True)
    failures = []

    def batch():
        pids = []
        for _ in range(creators):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = min(1, _creator(bundle, state, 3))
                finally:
                    os._exit(code)
            pids.append(pid)
        failures.append(sum(os.waitpid(p, 0)[1] != 0 for p in pids))

    benchmark.pedantic(batch, rounds=max(3, rounds // 6), warmup_rounds=1)
    benchmark.extra_info.update({"creators": creators, "per_creator": 3})
    assert sum(failures) == 0
