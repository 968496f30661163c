"""End-to-end tests of run_suites over a matrix of fake kernels booted by a fake QEMU (no download, no build)."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import guests, run
from harness.image.build import Image
from harness.kernels.cache import BootableKernel
from harness.vm import fake_qemu, qemu

TESTDATA = Path(__file__).parent / "vm" / "testdata"
VERSION = "QEMU emulator version 0.0.0 (kharness fake_qemu)"


@pytest.fixture
def matrix(tmp_path, monkeypatch):
    """Make run_suites boot the given {kernel name: scenario} through the fake QEMU; returns a setter."""
    binary = str(fake_qemu.install(tmp_path))
    initrd = tmp_path / "initrd.cpio"
    initrd.write_bytes(b"070701")
    # Nothing of the host leaks into the run: no --runtime to check against the host's runc and crun.
    monkeypatch.delenv("KHARNESS_RUNTIME", raising=False)

    def use(scenarios: dict[str, str]) -> None:
        prepared = [guests.Prepared(BootableKernel(name, f"{name}.0-fake", TESTDATA / f"scenario-{s}.json", None),
                                    Image(initrd, initrd.stat().st_size, built=False, seconds=0.0))
                    for name, s in scenarios.items()]

        def plan(opts, benchmarks_only=False, log=print):
            jobs = opts.jobs or 1
            return guests.RunPlan(prepared, binary, VERSION, qemu.arch_params(), "tcg", "real", 2, jobs,
                                  {"accel": "tcg", "clock": "real", "qemu_version": VERSION, "commit": "fake",
                                   "host_cpu": "fake"})

        monkeypatch.setattr(guests, "plan", plan)
    return use


def run_matrix(tmp_path: Path, timeout: float = 20.0) -> tuple[int, list[str], Path]:
    """run_suites on the patched matrix, two guests at a time; returns (status, printed lines, run dir)."""
    printed: list[str] = []
    run_dir = tmp_path / "run"
    status = run.run_suites(guests.VmOptions(timeout=timeout, jobs=2), [], out_base=run_dir, log=printed.append)
    return status, printed, run_dir


def line_of(printed: list[str], kernel: str) -> str:
    """The summary line of one kernel ("<kernel>: <status> <counts>; ...")."""
    found = [line for line in printed if re.match(rf"\s*{re.escape(kernel)}: ", line)]
    assert len(found) == 1, printed
    return found[0]


def test_mixed_matrix_prints_each_kernel_and_exits_1(tmp_path, matrix):
    """One kernel passes and one oopses: exit status 1; each kernel's summary line gives its status and
    counts; the oops's cause names the oops and the failed test; the merged JUnit XML holds both kernels'
    tests under kernel-qualified names; summary.json records each status."""
    matrix({"6.1": "passed", "6.12": "oops"})
    status, printed, run_dir = run_matrix(tmp_path)
    assert status == 1
    assert re.match(r"\s*6\.1: passed\s+32 passed, 0 failed, 3 skipped;", line_of(printed, "6.1"))
    assert re.match(r"\s*6\.12: oops\s+31 passed, 1 failed, 3 skipped;", line_of(printed, "6.12"))
    causes = [line.strip() for line in printed if "cause:" in line]
    assert len(causes) == 1
    assert "Oops: int3" in causes[0] and "suites.test_conformance::test_runtimes_agree[mount]" in causes[0]
    assert any("failed suites.test_conformance::test_runtimes_agree[mount]: AssertionError: runtimes failed"
               in line for line in printed)
    assert f"console log: {run_dir / '6.12' / 'console.log'}" in [line.strip() for line in printed]
    assert printed[-2:] == [f"JUnit XML: {run_dir / 'junit.xml'}", "63 passed, 1 failed, 6 skipped"]

    root = ET.parse(run_dir / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"kernel-6.1", "kernel-6.12"}
    assert [(s.get("tests"), s.get("failures")) for s in suites.values()] == [("35", "0"), ("35", "1")]
    failed = [c for c in suites["kernel-6.12"].iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == \
        [("kernel-6.12.suites.test_conformance", "test_runtimes_agree[mount]")]
    assert {k: v["status"] for k, v in json.loads((run_dir / "summary.json").read_text()).items()} == \
        {"6.1": "passed", "6.12": "oops"}
    for kernel in ("6.1", "6.12"):
        assert (run_dir / kernel / "console.log").stat().st_size > 0
        assert (run_dir / kernel / "junit.xml").is_file()


def test_panic_and_hang_print_console_tails_and_become_boot_errors(tmp_path, matrix):
    """A panicked and a hung guest (deadline 1.5 s, booted side by side) make the run fail; each gets a cause
    line and the tail of its console; the merged JUnit XML carries one guest_boot error per kernel."""
    matrix({"6.12": "panic", "6.1": "hang"})
    status, printed, run_dir = run_matrix(tmp_path, timeout=1.5)
    assert status == 1
    assert re.match(r"\s*6\.12: panic\s", line_of(printed, "6.12"))
    assert re.match(r"\s*6\.1: hung\s", line_of(printed, "6.1"))
    stripped = [line.strip() for line in printed]
    assert "cause: kernel panic: Kernel panic - not syncing: Fatal exception in interrupt" in stripped
    assert any(line.startswith("cause: no result within the 2 s deadline") for line in stripped)
    # The tails are printed as "| <console line>": the panic line, and the test the hung guest was in.
    assert any(re.fullmatch(r"\| \[\s*[\d.]+\] Kernel panic - not syncing: Fatal exception in interrupt", line)
               for line in stripped)
    assert "| suites/test_conformance_generated.py::test_runtime_shows_what_the_config_asks[defaults]" in stripped

    root = ET.parse(run_dir / "junit.xml").getroot()
    errors = {s.get("name"): s.find("testcase/error").get("message") for s in root.findall("testsuite")}
    assert errors["kernel-6.12"].startswith("panic: kernel panic")
    assert errors["kernel-6.1"].startswith("hung: no result within")
