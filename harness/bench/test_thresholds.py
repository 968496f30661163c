"""Tests of noise thresholds: the default, the TOML file's patterns, CLI overrides, and their errors."""

import pytest

from harness.bench import thresholds
from harness.bench.thresholds import ThresholdError, Thresholds


def test_default_applies_without_overrides():
    """With no entry matching, a benchmark gets the default threshold (5 % unless changed)."""
    assert Thresholds().for_benchmark("test_fork_exec_true") == 5.0
    assert Thresholds().with_default(7).for_benchmark("anything") == 7.0


def test_literal_names_with_brackets_and_escaped_patterns():
    """A key equal to the name matches literally; `[[]` in a pattern matches a literal '['."""
    t = Thresholds(5.0, (("test_clone3_one_namespace[network]", 10.0), ("*_namespace[[]user]", 12.0)))
    assert t.for_benchmark("test_clone3_one_namespace[network]") == 10.0
    assert t.for_benchmark("test_unshare_one_namespace[user]") == 12.0
    assert t.for_benchmark("test_clone3_one_namespace[ipc]") == 5.0
    assert t.for_benchmark("test_clone3_one_namespacen") == 5.0  # not fnmatch's [network] class


def test_last_matching_entry_wins():
    """As in .gitignore the last match wins, so CLI overrides appended after the file's win over it."""
    t = Thresholds(5.0, (("test_*", 8.0), ("test_cgroup_*", 9.0)))
    assert t.for_benchmark("test_cgroup_mkdir") == 9.0
    assert t.for_benchmark("test_fork_exec_true") == 8.0
    t = t.with_overrides([thresholds.parse_cli("test_cgroup_mkdir=20")])
    assert t.for_benchmark("test_cgroup_mkdir") == 20.0


def test_project_file_loads_and_marks_network_namespaces_noisier():
    """benchmarks/thresholds.toml parses; network namespace benchmarks get 10 %, others the default."""
    t = thresholds.load()
    assert t.for_benchmark("test_clone3_one_namespace[network]") == 10.0
    assert t.for_benchmark("test_unshare_one_namespace[network]") == 10.0
    assert t.for_benchmark("test_unshare_one_namespace[ipc]") == 5.0
    assert t.for_benchmark("test_posix_spawn_true") == 5.0


def test_file_entries_in_order(tmp_path):
    """A [thresholds] table keeps its file order and takes ints and floats."""
    path = tmp_path / "t.toml"
    path.write_text('[thresholds]\n"test_*" = 6\n"test_x" = 7.5\n')
    assert thresholds.load(path).overrides == (("test_*", 6.0), ("test_x", 7.5))
    assert thresholds.load(None).overrides == ()


@pytest.mark.parametrize("text, message", [
    ('[thresholds]\n"a" = "10"\n', r"thresholds\.'a': expected a number of percent, got str"),
    ('[thresholds]\n"a" = -1\n', r"thresholds\.'a': expected a percent >= 0, got -1"),
    ('[thresholds]\n"a" = true\n', r"thresholds\.'a': expected a number of percent, got bool"),
    ('thresholds = 5\n', r"thresholds: expected a table"),
    ('[limits]\n"a" = 5\n', r"limits: unknown key"),
    ('[thresholds\n', r"not valid TOML"),
])
def test_malformed_files_name_the_file_and_key(tmp_path, text, message):
    """Errors in the TOML file name the file and the offending key."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ThresholdError, match=rf"bad\.toml: {message}"):
        thresholds.load(path)


def test_missing_file_is_an_error(tmp_path):
    """A thresholds file that was asked for but is absent is an error naming it."""
    with pytest.raises(ThresholdError, match="absent.toml: cannot read"):
        thresholds.load(tmp_path / "absent.toml")


def test_cli_argument_parsing():
    """PATTERN=PCT splits at the last '=', accepts a trailing %, and rejects what is not a percent."""
    assert thresholds.parse_cli("*network*=10") == ("*network*", 10.0)
    assert thresholds.parse_cli("a=b=2.5%") == ("a=b", 2.5)
    for bad in ("network", "=5", "x=ten", "x=-3"):
        with pytest.raises(ThresholdError, match="--threshold-for"):
            thresholds.parse_cli(bad)
