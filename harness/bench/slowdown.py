"""A deliberate slowdown of chosen benchmarks (`--inject-slowdown NAME=PCT`), to prove the regression gate fires.

Each call of the benchmarked function is timed and followed by a busy wait of PCT percent of its own time,
so the benchmark's whole distribution moves by PCT percent. A busy wait, not a sleep: under the icount clock
it costs emulated instructions like real work, and it does not depend on the timer slack of a sleep.
"""

from __future__ import annotations

import fnmatch
import functools
import time


class SlowdownError(ValueError):
    """An --inject-slowdown value that is not NAME=PCT with 0 < PCT <= 1000."""


def parse(values: list[str]) -> list[tuple[str, float]]:
    """[(name pattern, fraction)] from NAME=PCT strings ("test_fork_exec_true=10" is a 10 % slowdown)."""
    parsed = []
    for value in values:
        name, sep, pct = value.partition("=")
        try:
            fraction = float(pct.rstrip("%")) / 100
        except ValueError:
            fraction = 0.0
        if not sep or not name or not 0 < fraction <= 10:
            raise SlowdownError(f"--inject-slowdown {value!r}: expected NAME=PCT with 0 < PCT <= 1000, "
                                "e.g. test_fork_exec_true=10")
        parsed.append((name, fraction))
    return parsed


def fraction_for(test_name: str, slowdowns: list[tuple[str, float]]) -> float:
    """The slowdown of one benchmark (fnmatch on its name, brackets included; the last match wins), or 0."""
    found = 0.0
    for pattern, fraction in slowdowns:
        if test_name == pattern or fnmatch.fnmatchcase(test_name, pattern):
            found = fraction
    return found


def slowed(function, fraction: float, clock=time.perf_counter):
    """`function`, followed on every call by a busy wait of `fraction` times the call's own duration."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = clock()
        try:
            return function(*args, **kwargs)
        finally:
            end = clock()
            deadline = end + (end - start) * fraction
            while clock() < deadline:
                pass
    return wrapper


def slow_fixture(fixture, fraction: float):
    """Make pytest-benchmark's fixture slow the target of __call__ and pedantic. The instance's class becomes a
    subclass, not a proxy: pytest-benchmark refuses a `benchmark` funcarg that is not a BenchmarkFixture."""
    base = type(fixture)

    class SlowedFixture(base):
        def __call__(self, function, *args, **kwargs):
            return super().__call__(slowed(function, fraction), *args, **kwargs)

        def pedantic(self, target, *args, **kwargs):
            return super().pedantic(slowed(target, fraction), *args, **kwargs)

    SlowedFixture.__name__ = f"Slowed{base.__name__}"
    fixture.__class__ = SlowedFixture
    return fixture
