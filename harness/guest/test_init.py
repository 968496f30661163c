"""Tests of the guest init's pytest command line (pure logic: no guest needed)."""

from harness.guest.init import pytest_argv


def argv(tmp_path, monkeypatch, **config):
    """pytest_argv for a project laid out with suites/ and benchmarks/ in tmp_path."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "benchmarks").mkdir()
    monkeypatch.chdir(tmp_path)
    return pytest_argv({"kernel": "6.12", **config})


def test_default_run_collects_both_and_loads_pytest_benchmark(tmp_path, monkeypatch):
    """With no paths, the suites and the benchmarks run, and the benchmark plugin writes its JSON."""
    command = argv(tmp_path, monkeypatch)
    assert command[command.index("pytest") + 1:][:2] == ["suites", "benchmarks"]
    assert "pytest_benchmark.plugin" in command and any(a.startswith("--benchmark-json=") for a in command)


def test_suites_only_run_skips_the_benchmark_plugin(tmp_path, monkeypatch):
    """`--only suites` (paths = suites) does not import pytest-benchmark: seconds under TCG."""
    command = argv(tmp_path, monkeypatch, paths=["suites"])
    assert "pytest_benchmark.plugin" not in command and not any(a.startswith("--benchmark") for a in command)


def test_named_paths_and_benchmark_options_decide_the_plugin(tmp_path, monkeypatch):
    """A named benchmarks path, or a --benchmark-* option, loads the plugin; a named suite alone does not."""
    assert "pytest_benchmark.plugin" in argv(tmp_path, monkeypatch, pytest_args=["benchmarks/x.py::t"])
    assert "pytest_benchmark.plugin" not in pytest_argv({"kernel": "6.12", "pytest_args": ["suites", "-k", "pid"]})
    assert "pytest_benchmark.plugin" in pytest_argv({"kernel": "6.12",
                                                     "pytest_args": ["suites", "--benchmark-disable"]})


def test_forwarded_suite_env_reaches_pytest_and_its_timeout(tmp_path, monkeypatch):
    """The host's suite knobs (config "env") are in pytest's environment; KHARNESS_TEST_TIMEOUT sets the limit."""
    from harness.guest.init import guest_env
    config = {"kernel": "6.12", "env": {"KHARNESS_LIFECYCLE_RUNS": "7", "KHARNESS_TEST_TIMEOUT": "600"}}
    assert guest_env(config)["KHARNESS_LIFECYCLE_RUNS"] == "7"
    assert "--test-timeout=600" in argv(tmp_path, monkeypatch, env=config["env"])
    assert "--test-timeout=240" in pytest_argv({"kernel": "6.12"})
