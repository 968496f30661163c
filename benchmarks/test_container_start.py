"""Container start-to-exit latency of /bin/true: the bundled runtime (library API and CLI), runc and crun,
on the same busybox bundle and kernel; and the bundled runtime with 1, 2, 4, 8 concurrent creators."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.containers import BundleFactory, Runtime, RuntimeNotFound, SabotagedRuntime, make_runtime
from harness import features
from harness.plugin import runtimes_or
from harness.pytest_args import ALL_RUNTIMES

RUNTIMES = list(ALL_RUNTIMES)
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


def pytest_generate_tests(metafunc):
    """The runtimes measured: those --runtime selects (a selected one that is not installed is a usage error,
    raised by the plugin), else all four."""
    if "runtime_name" in metafunc.fixturenames:
        metafunc.parametrize("runtime_name", runtimes_or(metafunc.config, RUNTIMES))


def runtime_under_test(request, runtime_name: str, state: Path) -> Runtime:
    """The runtime to measure, broken on purpose under --sabotage, as the suites' are. Only a reference runtime
    (runc, crun) that is not installed skips: the bundled runtime always exists."""
    try:
        runtime = make_runtime(runtime_name, state)
    except RuntimeNotFound as exc:
        pytest.skip(str(exc))
    sabotage = request.config.getoption("--sabotage")
    return SabotagedRuntime(runtime, sabotage) if sabotage else runtime


def check_probe(runtime: Runtime, runtime_name: str, bundle: Path) -> None:
    """One container run before the clock starts: a runtime that cannot run /bin/true fails the benchmark (a
    skip would leave `tox -e bench` green with nothing measured). The one exception is crun's documented refusal
    of a v1/v2 hybrid host, which no guest is: it skips, naming it."""
    try:
        probe = runtime.run(bundle, f"probe-{next(_ids)}")
    except (OSError, RuntimeError, ValueError) as error:  # a refusal: ContainerError, SpecError, a CLI failure
        pytest.fail(f"{runtime.name} cannot run the /bin/true bundle {bundle}: {type(error).__name__}: {error}")
    output = (probe.stdout + probe.stderr).strip()[-400:]
    if probe.status != 0 and "hybrid mode not supported" in output and not features.has("cgroup2"):
        pytest.skip(f"{runtime.name} refuses a v1/v2 hybrid cgroup host (run in a harness guest): {output}")
    assert probe.status == 0, f"{runtime.name} cannot run the /bin/true bundle {bundle} (exit {probe.status}): {output}"


def test_container_run_true(benchmark, request, true_bundle, rounds, runtime_name):
    """create + start + wait + delete of a container running /bin/true: one API call, or one CLI `run`."""
    bundle, work = true_bundle
    state = work / f"state-{runtime_name.replace('/', '_')}"
    state.mkdir(exist_ok=True)
    runtime = runtime_under_test(request, runtime_name, state)
    check_probe(runtime, runtime_name, bundle)
    cli = runtime_name != "bundled"
    results = []
    benchmark.pedantic(lambda: results.append(runtime.run(bundle, f"b{next(_ids)}").status),
                       rounds=max(5, rounds // 3) if cli else rounds, warmup_rounds=1)
    benchmark.extra_info["runtime"] = runtime_name
    failed = [(number, status) for number, status in enumerate(results, 1) if status != 0]
    assert not failed, (f"{runtime.name}: {len(failed)} of {len(results)} runs of /bin/true (warm-up included) "
                        f"failed; (round, exit status): {failed[:10]}")


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
