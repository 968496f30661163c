"""The harness's pytest plugin: the guest's first-test marker and the kernel under test as a fixture."""

from __future__ import annotations

import os

import pytest

FIRST_TEST_MARKER = "KHARNESS-FIRST-TEST"
_announced = False


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


@pytest.fixture(scope="session")
def guest_kernel() -> dict:
    """The kernel the harness asked for (name and expected release); skips outside a harness guest."""
    if os.environ.get("KHARNESS_GUEST") != "1":
        pytest.skip("runs only inside a harness guest (python -m harness run)")
    return {"name": os.environ["KHARNESS_KERNEL"], "release": os.environ.get("KHARNESS_EXPECTED_RELEASE", "")}
