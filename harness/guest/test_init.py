"""Tests of the guest init's pytest command line and environment (pure logic: no guest needed)."""

from harness.guest.init import guest_env, pytest_argv
from harness.request import GuestRequest


def argv(**fields) -> list[str]:
    """pytest_argv for a 6.12 run request with these fields."""
    return pytest_argv(GuestRequest("run", "6.12", **fields))


def test_the_hosts_paths_come_first_and_benchmarks_load_the_plugin():
    """The paths the host chose are pytest's first arguments; with benchmarks the plugin writes its JSON."""
    command = argv(paths=("suites", "benchmarks"))
    assert command[command.index("pytest") + 1:][:2] == ["suites", "benchmarks"]
    assert "pytest_benchmark.plugin" in command and any(a.startswith("--benchmark-json=") for a in command)


def test_suites_only_run_skips_the_benchmark_plugin():
    """`--only suites` (paths = suites) does not import pytest-benchmark: seconds under TCG."""
    command = argv(paths=("suites",))
    assert "pytest_benchmark.plugin" not in command and not any(a.startswith("--benchmark") for a in command)


def test_named_paths_and_benchmark_options_decide_the_plugin():
    """A benchmarks path, or a --benchmark-* option, loads the plugin; a suite path alone does not."""
    assert "pytest_benchmark.plugin" in argv(paths=("benchmarks/x.py::t",))
    assert "pytest_benchmark.plugin" not in argv(paths=("suites",), pytest_args=("-k", "pid"))
    assert "pytest_benchmark.plugin" in argv(paths=("suites",), pytest_args=("--benchmark-disable",))


def test_an_option_value_that_is_a_path_stays_an_option_value():
    """`--runtime /usr/bin/crun` is passed as it came, after the paths; the guest never guesses paths."""
    command = argv(paths=("suites",), pytest_args=("--runtime", "/usr/bin/crun"))
    assert command[command.index("pytest") + 1] == "suites"
    assert command[-2:] == ["--runtime", "/usr/bin/crun"]


def test_forwarded_suite_env_reaches_pytest_and_its_timeout():
    """The host's suite knobs (the request's env) are in pytest's environment; KHARNESS_TEST_TIMEOUT sets
    the per-test limit, 420 s otherwise."""
    env = {"KHARNESS_LIFECYCLE_RUNS": "7", "KHARNESS_TEST_TIMEOUT": "600"}
    assert guest_env(GuestRequest("run", "6.12", env=env))["KHARNESS_LIFECYCLE_RUNS"] == "7"
    assert "--test-timeout=600" in argv(env=env)
    assert "--test-timeout=420" in argv()
