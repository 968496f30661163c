"""The harness's pytest plugin: the guest's first-test marker and the kernel under test as a fixture."""

from __future__ import annotations

import os

import pytest

from .request import FIRST_TEST_MARKER  # noqa: F401 (printed below; the host's console reader looks for it)
_announced = False


RUNTIME_ENV = "KHARNESS_RUNTIME"


def pytest_addoption(parser):
    group = parser.getgroup("kharness", "kernel harness")
    group.addoption("--runtime", default=os.environ.get(RUNTIME_ENV) or None, metavar="NAME[,NAME...]|all",
                    help="OCI runtimes the containers are started with, in the suites (each test once per "
                         "runtime), the conformance suites (each compared with runc) and the container-start "
                         "benchmarks: bundled (library API), bundled-cli, runc, crun, a path, a comma-separated "
                         "list, or all. Default: bundled for the suites, bundled and crun against runc for "
                         f"conformance, all four for the benchmarks (env {RUNTIME_ENV})")
    group.addoption("--sabotage", default=os.environ.get("KHARNESS_SABOTAGE"), metavar="namespace:T|resource:R",
                    help="break the runtime on purpose to show the suites fail: drop namespace type T or "
                         "resource R from every container's config (env KHARNESS_SABOTAGE)")
    group.addoption("--test-timeout", type=float,
                    default=float(os.environ.get("KHARNESS_TEST_TIMEOUT", "0")),
                    help="fail a test (setup to teardown) that runs longer than this many seconds, after "
                         "dumping every thread's stack; 0 disables (env KHARNESS_TEST_TIMEOUT; the guests "
                         "use 420)")
    group.addoption("--kharness-profile", choices=("ci", "dev"),
                    default=os.environ.get("KHARNESS_HYPOTHESIS_PROFILE", "ci"),
                    help="hypothesis profile of the suites: ci (derandomized, bounded; the default) or dev "
                         "(env KHARNESS_HYPOTHESIS_PROFILE)")
    group.addoption("--inject-slowdown", action="append", default=[], metavar="NAME=PCT",
                    help="slow the benchmark NAME (an fnmatch pattern) by PCT percent with a busy wait after "
                         "each call, to show the regression gate fires (repeatable; recorded in extra_info)")


def pytest_configure(config):
    from .bench import slowdown
    try:
        slowdown.parse(config.getoption("inject_slowdown"))
    except slowdown.SlowdownError as exc:
        raise pytest.UsageError(str(exc)) from None
    for name in selected_runtimes(config) or ():
        check_runtime_option(name)
    config.addinivalue_line(
        "markers", "requires(*features): the test needs kernel features (see harness.features); "
                   "where one is absent it is skipped, naming the feature and its first release")


from .pytest_args import ALL_RUNTIMES, BUILT_IN_RUNTIMES  # noqa: E402 (the names live with the host's checks)


def parse_runtimes(value: str | None) -> list[str] | None:
    """--runtime's names in order, once each: "all" is the four, a comma-separated list its names; None when
    the option was not given (each suite then has its own default)."""
    if not value:
        return None
    if value == "all":
        return list(ALL_RUNTIMES)
    return list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip())) or None


def selected_runtimes(config) -> list[str] | None:
    return parse_runtimes(config.getoption("--runtime"))


def runtimes_or(config, default: list[str]) -> list[str]:
    """The runtimes --runtime selected, else this suite's default."""
    return selected_runtimes(config) or list(default)


def check_runtime_option(choice: str) -> None:
    """A runtime asked for that is unknown or not installed is a usage error: every container test would
    otherwise skip and the run look green."""
    from .containers import RuntimeNotFound, runtime_binary
    if choice in BUILT_IN_RUNTIMES:
        return
    try:
        runtime_binary(choice)
    except RuntimeNotFound as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_runtest_setup(item):
    """Skip a test whose required kernel features the running kernel lacks, saying which and since when."""
    from . import features
    for marker in item.iter_markers("requires"):
        for name in marker.args:
            if not features.has(name):
                pytest.skip(features.skip_reason(name))


class TestTimeout(Exception):
    """A test ran past --test-timeout: failed, so one hung test cannot eat the guest's whole deadline."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Arm a per-test alarm (setup, call and teardown); on expiry dump every thread's stack and fail."""
    import faulthandler
    import signal
    import sys
    seconds = item.config.getoption("--test-timeout")
    # SIGALRM is delivered to the main thread only: elsewhere the limit cannot be enforced.
    if not seconds or not threading_main():
        yield
        return

    def expire(signum, frame):
        raise TestTimeout(f"{item.nodeid} ran past --test-timeout={seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    faulthandler.dump_traceback_later(seconds, exit=False, file=sys.__stderr__)
    signal.setitimer(signal.ITIMER_REAL, seconds + 1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def threading_main() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def pytest_runtest_logstart(nodeid, location):
    """Tell the host, on the console, when the first test starts (it times boot-to-first-test)."""
    global _announced
    if _announced or os.environ.get("KHARNESS_GUEST") != "1":
        return
    _announced = True
    # Write to the console device itself: pytest's fd capture would swallow stdout.
    try:
        with open("/dev/console", "w") as console:
            console.write(f"{FIRST_TEST_MARKER} {nodeid}\n")
    except OSError:
        pass


def run_context() -> dict:
    """Where a result was measured: kernel, accel, CPU, QEMU and harness commit (host values when not in a guest)."""
    cpu_model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "kernel_release": os.uname().release,
        "kernel_name": os.environ.get("KHARNESS_KERNEL", "host"),
        "accel": os.environ.get("KHARNESS_ACCEL", "native"),
        # "icount": the guest's time counted emulated instructions (see vm-images/qemu-x86_64.toml).
        "clock": os.environ.get("KHARNESS_CLOCK", "real"),
        "guest_cpu_model": cpu_model,
        "host_cpu_model": os.environ.get("KHARNESS_HOST_CPU", cpu_model),
        "qemu_version": os.environ.get("KHARNESS_QEMU_VERSION", ""),
        "harness_commit": os.environ.get("KHARNESS_COMMIT", ""),
        "vcpus": os.cpu_count(),
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    """Stamp every benchmark file with its context; results are only compared like for like."""
    machine_info["kharness"] = run_context()


@pytest.fixture(scope="session", autouse=True)
def _runtime_in_junit(request, record_testsuite_property) -> None:
    """The JUnit XML says which runtime (and sabotage) the containers ran under: a run's report shows it."""
    record_testsuite_property("runtime", ",".join(runtimes_or(request.config, ["bundled"])))
    sabotage = request.config.getoption("--sabotage")
    if sabotage:
        record_testsuite_property("sabotage", sabotage)


@pytest.fixture(scope="session")
def guest_kernel() -> dict:
    """The kernel the harness asked for (name and expected release); skips outside a harness guest."""
    if os.environ.get("KHARNESS_GUEST") != "1":
        pytest.skip("runs only inside a harness guest (python -m harness run)")
    return {"name": os.environ["KHARNESS_KERNEL"], "release": os.environ.get("KHARNESS_EXPECTED_RELEASE", "")}
