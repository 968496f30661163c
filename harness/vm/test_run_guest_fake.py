"""End-to-end tests of run_guest against a fake QEMU replaying saved consoles and results channels."""

import time
from pathlib import Path

import pytest

from harness.vm import fake_qemu, launch
from harness.vm.qemu import GuestConfig, argv

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def binary(tmp_path) -> str:
    """The fake qemu-system executable, run with this interpreter."""
    return str(fake_qemu.install(tmp_path))


def config(tmp_path: Path, scenario: str, initrd: bool = True) -> GuestConfig:
    """A guest whose kernel is the scenario file the fake replays; results go to tmp_path/out."""
    image = tmp_path / "initrd.cpio"
    if initrd:
        image.write_bytes(b"070701")
    return GuestConfig(kernel=TESTDATA / f"scenario-{scenario}.json", initrd=image,
                       results=tmp_path / "out" / "results.bin")


def boot(tmp_path: Path, binary: str, scenario: str, timeout: float = 10.0, **kw) -> launch.GuestOutcome:
    """run_guest on the scenario, output in tmp_path/out."""
    return launch.run_guest("6.12", config(tmp_path, scenario, **kw), tmp_path / "out", timeout, binary=binary)


def running(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for a reaper counts as gone: it runs nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def fake_pids(out: Path) -> list[int]:
    """The pids the fake recorded: its own first, then its helpers'."""
    return [int(p) for p in (out / fake_qemu.PIDS_FILE).read_text().split()]


def test_passed_guest_delivers_results_console_and_timings(tmp_path, binary):
    """A clean run passes; its JUnit XML arrives intact and is written out; the console log is the guest's
    console without the serial line's \\r; the init and first-test markers are timed."""
    outcome = boot(tmp_path, binary, "passed")
    out = tmp_path / "out"
    assert (outcome.status, outcome.reason, outcome.exit_status) == ("passed", "all tests passed", 0)
    junit = (TESTDATA / "junit-6.12-passed.xml").read_bytes()
    assert outcome.files == {"junit.xml": junit}
    assert (out / "junit.xml").read_bytes() == junit
    assert outcome.console_log == out / "console.log"
    assert outcome.console_log.read_text() == (TESTDATA / "boot-6.12-passed.log").read_text()
    assert 0 < outcome.seconds_to_init <= outcome.seconds_to_first_test <= outcome.seconds
    assert (out / "qemu-argv.txt").read_text().startswith(binary + " ")
    assert not (out / "qemu-stderr.txt").exists()
    assert not running(fake_pids(out)[0])


def test_oops_is_reported_even_though_the_guest_sent_its_results(tmp_path, binary):
    """A process-context oops lets pytest finish and send its results; the outcome is still `oops`, naming
    the oops line, and the results are kept for the report."""
    outcome = boot(tmp_path, binary, "oops")
    assert outcome.status == "oops"
    assert "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI" in outcome.reason
    assert outcome.exit_status == 1
    assert outcome.files["junit.xml"] == (TESTDATA / "junit-6.12-oops.xml").read_bytes()
    assert "---[ end trace 0000000000000000 ]---" in outcome.console_log.read_text()


def test_panic_keeps_the_console_tail_and_sends_nothing(tmp_path, binary):
    """A panic (QEMU exits under -no-reboot) is `panic` with the panic line as reason, no results, and
    the console's last lines kept for the report."""
    outcome = boot(tmp_path, binary, "panic")
    assert outcome.status == "panic"
    assert outcome.reason == "kernel panic: Kernel panic - not syncing: Fatal exception in interrupt"
    assert outcome.exit_status is None and outcome.files == {}
    assert outcome.console_tail[-2].endswith("Kernel panic - not syncing: Fatal exception in interrupt")
    assert outcome.console_tail[-1].endswith("Kernel Offset: 0x4400000 from 0xffffffff81000000 "
                                             "(relocation range: 0xffffffff80000000-0xffffffffbfffffff)")
    assert outcome.seconds_to_first_test is not None


def test_hang_is_killed_at_the_deadline_with_its_whole_process_group(tmp_path, binary):
    """A guest whose console stops and that never exits is `hung` after the deadline; the fake and the
    helper it started in its process group are killed, and run_guest returns soon after the deadline."""
    started = time.monotonic()
    outcome = boot(tmp_path, binary, "hang", timeout=1.5)
    elapsed = time.monotonic() - started
    assert outcome.status == "hung"
    assert "deadline" in outcome.reason
    # The console reader must not wait on a pipe some survivor still holds (its join would take 5 s more).
    assert 1.5 <= elapsed < 4.0
    assert outcome.console_tail[-1] == \
        "suites/test_conformance_generated.py::test_runtime_shows_what_the_config_asks[defaults] "
    assert outcome.console_log.read_text() == (TESTDATA / "hang-6.1-mid-test.log").read_text()
    pids = fake_pids(tmp_path / "out")
    assert len(pids) == 2
    # SIGKILL is delivered asynchronously to the helper: poll briefly instead of sleeping.
    deadline = time.monotonic() + 2.0
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in pids if running(pid)] == []


def test_truncated_channel_is_a_crash_not_a_pass(tmp_path, binary):
    """A guest that stops mid-way through sending a file, with no exit line, crashed: the reason names the
    truncated file, and nothing half-sent is written out."""
    outcome = boot(tmp_path, binary, "truncated")
    assert outcome.status == "crashed"
    assert "junit.xml: truncated" in outcome.reason
    assert outcome.exit_status is None and outcome.files == {}
    assert not (tmp_path / "out" / "junit.xml").exists()
    assert "powering off" not in outcome.console_log.read_text()


def test_damaged_file_with_an_exit_line_is_a_crash(tmp_path, binary):
    """A file whose sha256 does not match is refused even when the exit status (0) arrived: crashed,
    `results damaged in transit`, the file not delivered."""
    outcome = boot(tmp_path, binary, "damaged")
    assert outcome.status == "crashed"
    assert outcome.reason == "results damaged in transit: junit.xml: size or sha256 mismatch (damaged in transit)"
    assert outcome.exit_status == 0 and outcome.files == {}


def test_qemu_failing_to_start_is_a_crash_quoting_its_stderr(tmp_path, binary):
    """QEMU exiting at once with an error (here a missing initrd) is a crash whose reason quotes its stderr,
    which is also saved next to the console log."""
    outcome = boot(tmp_path, binary, "passed", initrd=False)
    assert outcome.status == "crashed"
    assert "QEMU status 1" in outcome.reason and "could not load initrd" in outcome.reason
    assert "could not load initrd" in (tmp_path / "out" / "qemu-stderr.txt").read_text()
    assert outcome.console_log.read_text() == ""


def test_fake_reads_the_harness_command_line_and_refuses_one_without_a_results_port(tmp_path):
    """The fake finds the scenario, initrd and results file in qemu.argv's command line, and refuses one
    whose second serial port is not a results file (so it cannot drift from the real command line)."""
    cfg = config(tmp_path, "passed")
    cmd = argv(cfg, binary="fake")[1:]
    inv = fake_qemu.parse_argv(cmd)
    assert (inv.scenario, inv.initrd, inv.results) == (cfg.kernel, cfg.initrd, cfg.results)
    i = cmd.index("chardev:results")
    with pytest.raises(fake_qemu.UsageError, match="two serial ports"):
        fake_qemu.parse_argv(cmd[:i - 1] + cmd[i + 1:])


def test_soft_lockup_is_killed_when_the_kernel_says_so_not_at_the_deadline(tmp_path, binary):
    """A guest whose kernel reports a CPU stuck for 130 s and that would run on is `hung` as soon as that line
    arrives, long before its deadline; the reason quotes the kernel; the fake and its helper are gone."""
    started = time.monotonic()
    outcome = boot(tmp_path, binary, "softlockup", timeout=60)
    elapsed = time.monotonic() - started
    assert outcome.status == "hung"
    assert "soft lockup - CPU#0 stuck for 130s! [python:87]" in outcome.reason
    assert "deadline" in outcome.reason and elapsed < 20
    pids = fake_pids(tmp_path / "out")
    deadline = time.monotonic() + 2.0
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in pids if running(pid)] == []
