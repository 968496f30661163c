"""The host's reading of forwarded pytest arguments: test paths found without guessing, runtimes checked first."""

from pathlib import Path

import pytest

from harness.pytest_args import check_runtime, requested_runtime, split_paths


def project(tmp_path: Path) -> Path:
    """A project root with suites/test_a.py and benchmarks/."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_a.py").write_text("")
    (tmp_path / "benchmarks").mkdir()
    return tmp_path


def test_project_paths_are_paths_and_option_values_are_not(tmp_path):
    """suites/test_a.py::t is a path; `--runtime /usr/bin/crun`, `-k suites` and absolute paths are not."""
    root = project(tmp_path)
    args = ["suites/test_a.py::t", "--runtime", "/usr/bin/crun", "-k", "suites", "benchmarks", "/etc", "-x"]
    assert split_paths(args, root) == (["suites/test_a.py::t", "benchmarks"],
                                       ["--runtime", "/usr/bin/crun", "-k", "suites", "/etc", "-x"])


def test_a_path_leaving_the_project_is_not_a_test_path(tmp_path):
    """`../x` exists but is outside the project: it stays an argument, pytest names it if it is wrong."""
    (tmp_path / "p").mkdir()
    root = project(tmp_path / "p")
    (tmp_path / "x").mkdir()
    assert split_paths(["../x"], root) == ([], ["../x"])


def test_the_last_runtime_option_wins_over_the_environment():
    """`--runtime X` and `--runtime=X`, the last one; KHARNESS_RUNTIME only when no option names one."""
    assert requested_runtime(["--runtime", "runc", "--runtime=crun"], {"KHARNESS_RUNTIME": "x"}) == "crun"
    assert requested_runtime(["-x"], {"KHARNESS_RUNTIME": "runc"}) == "runc"
    assert requested_runtime([], {}) is None


def test_unknown_and_uninstalled_runtimes_are_refused_before_any_boot(tmp_path):
    """An unknown name, runc when the image will not carry it, a path that is not a packed runtime: errors
    naming the fix; the built-in ones, packed names and their paths pass."""
    crun = tmp_path / "crun"
    crun.write_text("")
    packed = {"crun": crun}
    for ok in (None, "bundled", "bundled-cli", "crun", str(crun)):
        check_runtime(ok, packed)
    with pytest.raises(ValueError, match="'nosuch': unknown; expected bundled, bundled-cli, runc, crun"):
        check_runtime("nosuch", packed)
    with pytest.raises(ValueError, match="runc: not installed on this host.*setup --install"):
        check_runtime("runc", packed)
    with pytest.raises(ValueError, match="carry only the host's runc and crun"):
        check_runtime("/usr/bin/true", packed)


def test_lists_and_all_are_checked_name_by_name(tmp_path):
    """`bundled,crun` passes where crun is packed; `all` and a list naming runc fail where runc is not."""
    packed = {"crun": tmp_path / "crun"}
    check_runtime("bundled,crun", packed)
    with pytest.raises(ValueError, match="runc: not installed"):
        check_runtime("all", packed)
    with pytest.raises(ValueError, match="'nosuch': unknown"):
        check_runtime("bundled, nosuch", packed)
