"""`python -m harness` refuses a wrong request before it fetches, builds or boots anything (exit 2)."""

import pytest

from harness import cli, guests


@pytest.fixture
def no_prepare(monkeypatch):
    """Fail the test if anything gets as far as fetching kernels or building images."""
    def plan(*args, **kwargs):
        raise AssertionError("guests.plan() was called: the check came too late")
    monkeypatch.setattr(guests, "plan", plan)


@pytest.mark.parametrize("command", [["exec", "--", "true"], ["shell"], ["exec", "--kernel", "5.10",
                                                                           "--kernel", "6.1", "--", "true"]])
def test_exec_and_shell_need_exactly_one_kernel(no_prepare, capsys, command):
    """exec and shell boot one guest: without --kernel (or with two) they stop at once, naming --kernel."""
    assert cli.main(command) == 2
    assert "boots one guest: pass --kernel once" in capsys.readouterr().err


def test_an_unknown_runtime_stops_the_run_before_any_boot(no_prepare, capsys, monkeypatch):
    """`run -- --runtime nosuch` and KHARNESS_RUNTIME=nosuch exit 2 naming the runtimes there are."""
    assert cli.main(["run", "--", "--runtime", "nosuch"]) == 2
    assert "--runtime 'nosuch': unknown" in capsys.readouterr().err
    monkeypatch.setenv("KHARNESS_RUNTIME", "nosuch")
    assert cli.main(["run"]) == 2
    assert "--runtime 'nosuch': unknown" in capsys.readouterr().err
