"""Tests of the injected slowdown: parsing, matching, and that a slowed call takes its share longer."""

import pytest

from harness.bench.slowdown import SlowdownError, fraction_for, parse, slow_fixture, slowed


def test_parse_and_match_by_name_or_pattern():
    """NAME=PCT becomes a fraction; names match exactly or as fnmatch patterns, the last match winning."""
    slowdowns = parse(["test_fork_exec_true=10", "test_clone3_*=5%", "test_clone3_exec_true=20"])
    assert fraction_for("test_fork_exec_true", slowdowns) == pytest.approx(0.10)
    assert fraction_for("test_clone3_no_namespace", slowdowns) == pytest.approx(0.05)
    assert fraction_for("test_clone3_exec_true", slowdowns) == pytest.approx(0.20)
    assert fraction_for("test_posix_spawn_true", slowdowns) == 0.0


@pytest.mark.parametrize("value", ["test_x", "=10", "test_x=ten", "test_x=0", "test_x=-5", "test_x=5000"])
def test_bad_values_say_what_is_expected(value):
    """Anything but NAME=PCT with 0 < PCT <= 1000 is refused with an example."""
    with pytest.raises(SlowdownError, match="expected NAME=PCT"):
        parse([value])


class FakeClock:
    """A clock that advances 1.0 per reading inside the function and 0.01 per reading of the busy wait."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.01
        return self.now


def test_slowed_call_waits_its_fraction_of_its_own_duration():
    """A call of 1 s (on the fake clock) slowed by 10 % returns after a further 0.1 s, with its result."""
    clock = FakeClock()

    def work(x):
        clock.now += 1.0
        return x * 2

    function = slowed(work, 0.10, clock=clock)
    start = clock.now
    assert function(21) == 42
    assert clock.now - start == pytest.approx(1.12, abs=0.02)


def test_slowed_fixture_keeps_its_type_and_slows_call_and_pedantic():
    """slow_fixture keeps isinstance (pytest-benchmark checks it) and wraps the targets of both entry points."""
    calls = []

    class Fixture:
        def __init__(self):
            self.extra_info = {}

        def __call__(self, function, *args):
            calls.append(("call", function.__wrapped__))
            return function(*args)

        def pedantic(self, target, args=(), rounds=1):
            calls.append(("pedantic", target.__wrapped__, rounds))
            return target(*args)

    bench = slow_fixture(Fixture(), 0.01)
    assert isinstance(bench, Fixture) and bench.extra_info == {}
    assert bench(abs, -3) == 3 and bench.pedantic(abs, args=(-4,), rounds=7) == 4
    assert calls == [("call", abs), ("pedantic", abs, 7)]
