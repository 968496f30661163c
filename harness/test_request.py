"""The host-guest request: it survives the kernel command line whole, and a damaged or missing one is named."""

import pytest

from harness.request import CONFIG_PARAM, GuestRequest, RequestError


def test_a_request_round_trips_through_the_command_line():
    """Every field comes back equal from among other kernel arguments (lists as tuples)."""
    request = GuestRequest("run", "6.12", "6.12.117", paths=["suites/test_ns_pid.py::test_x"],
                           pytest_args=["-k", "a b", "--runtime", "/usr/bin/crun"], context={"accel": "tcg"},
                           env={"KHARNESS_RUNTIME": "crun"})
    line = f"console=ttyS0 panic=-1 {request.to_cmdline()} quiet"
    assert GuestRequest.from_cmdline(line) == request
    assert GuestRequest.from_cmdline(line).paths == ("suites/test_ns_pid.py::test_x",)


def test_missing_damaged_and_unknown_requests_are_refused_by_name():
    """No word, bad base64 or JSON, an unknown field or mode, an exec without command: RequestError."""
    with pytest.raises(RequestError, match="no kharness.config= on the kernel command line"):
        GuestRequest.from_cmdline("console=ttyS0")
    with pytest.raises(RequestError, match="damaged"):
        GuestRequest.from_cmdline(CONFIG_PARAM + "!!!not-base64")
    with pytest.raises(RequestError, match="damaged"):
        GuestRequest.from_cmdline(CONFIG_PARAM + "eyJtb2RlIjoicnVuIiwia2VybmVsIjoiNiIsIm5vc3VjaCI6MX0=")
    with pytest.raises(RequestError, match="mode 'bench'"):
        GuestRequest("bench", "6.12")
    with pytest.raises(RequestError, match="exec request needs a command"):
        GuestRequest("exec", "6.12")
