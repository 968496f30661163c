"""Tests of accelerator choice: forced values, the remembered KVM probe verdict, the probe BIOS and /dev/kvm access."""

import json
import subprocess

import pytest

from harness.vm import accel


class CountingProbe:
    """A fake run_probe that records its calls and returns a fixed verdict."""

    def __init__(self, works: bool, why: str = "fake"):
        self.works, self.why = works, why
        self.calls = []

    def __call__(self, qemu, which, cache):
        self.calls.append((qemu, which, cache))
        return self.works, self.why


@pytest.fixture
def no_subprocess(monkeypatch):
    """Fail the test if anything tries to start QEMU."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected subprocess.run{args}")
    monkeypatch.setattr(accel.subprocess, "run", refuse)


@pytest.mark.parametrize("forced", ["tcg", "kvm"])
def test_forced_accel_is_returned_without_probing(forced, tmp_path, monkeypatch, no_subprocess):
    """--accel kvm/tcg is used as given; no probe runs and nothing is remembered."""
    probe = CountingProbe(True)
    monkeypatch.setattr(accel, "run_probe", probe)
    assert accel.choose(forced, "qemu", "QEMU 8.2.2", tmp_path, log=lambda m: None) == forced
    assert probe.calls == []
    assert not (tmp_path / "accel.json").exists()


def test_bogus_accel_is_a_value_error(tmp_path):
    """An unknown --accel value raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="expected auto, kvm or tcg"):
        accel.choose("bogus", "qemu", "QEMU 8.2.2", tmp_path, log=lambda m: None)


def test_auto_probes_once_and_remembers(tmp_path, monkeypatch):
    """`auto` probes KVM the first time, falls back to tcg, and reuses the saved verdict the second time."""
    probe = CountingProbe(False, "kvm hung")
    monkeypatch.setattr(accel, "run_probe", probe)
    logs = []
    assert accel.choose("auto", "/usr/bin/qemu", "QEMU 8.2.2", tmp_path, log=logs.append) == "tcg"
    assert accel.choose("auto", "/usr/bin/qemu", "QEMU 8.2.2", tmp_path, log=logs.append) == "tcg"
    assert probe.calls == [("/usr/bin/qemu", "kvm", tmp_path)]
    assert len(logs) == 1 and "kvm hung" in logs[0]
    saved = json.loads((tmp_path / "accel.json").read_text())
    assert saved["accel"] == "tcg" and saved["why"] == "kvm hung"


def test_auto_uses_kvm_when_probe_succeeds(tmp_path, monkeypatch):
    """A working KVM probe selects kvm."""
    monkeypatch.setattr(accel, "run_probe", CountingProbe(True, "probe guest ran"))
    assert accel.choose("auto", "qemu", "QEMU 8.2.2", tmp_path, log=lambda m: None) == "kvm"


def test_auto_probes_again_for_another_qemu_version(tmp_path, monkeypatch):
    """The remembered verdict is keyed by QEMU version: a new QEMU is probed anew."""
    probe = CountingProbe(False)
    monkeypatch.setattr(accel, "run_probe", probe)
    accel.choose("auto", "qemu", "QEMU 8.2.2", tmp_path, log=lambda m: None)
    accel.choose("auto", "qemu", "QEMU 9.0.0", tmp_path, log=lambda m: None)
    assert len(probe.calls) == 2


def test_auto_reprobes_after_corrupt_memo(tmp_path, monkeypatch):
    """A truncated accel.json is ignored and replaced."""
    (tmp_path / "accel.json").write_text('{"key": ')
    probe = CountingProbe(True)
    monkeypatch.setattr(accel, "run_probe", probe)
    assert accel.choose("auto", "qemu", "v", tmp_path, log=lambda m: None) == "kvm"
    assert len(probe.calls) == 1
    assert json.loads((tmp_path / "accel.json").read_text())["accel"] == "kvm"


@pytest.mark.parametrize("memo", ["null", "[]", '"tcg"'])
def test_auto_reprobes_after_memo_that_is_not_an_object(tmp_path, monkeypatch, memo):
    """An accel.json holding JSON that is not an object is ignored and replaced, like a truncated one."""
    (tmp_path / "accel.json").write_text(memo)
    probe = CountingProbe(False)
    monkeypatch.setattr(accel, "run_probe", probe)
    assert accel.choose("auto", "qemu", "v", tmp_path, log=lambda m: None) == "tcg"
    assert len(probe.calls) == 1


def test_probe_bios_has_reset_code_at_fff0(tmp_path):
    """The probe BIOS is 64 KiB with mov al,0x31; out 0xf4,al; hlt; jmp at the reset vector."""
    path = accel.probe_bios(tmp_path / "sub")
    data = path.read_bytes()
    assert len(data) == 65536
    assert data[0xFFF0:0xFFF7] == bytes([0xB0, 0x31, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
    assert data[:0xFFF0] == b"\0" * 0xFFF0
    assert accel.probe_bios(tmp_path / "sub") == path


def test_probe_exit_status_matches_debug_exit_byte():
    """isa-debug-exit turns the byte 0x31 into QEMU's exit status (0x31 << 1) | 1."""
    assert accel.PROBE_EXIT == (0x31 << 1) | 1


def test_probe_argv_cpu_per_accel(tmp_path):
    """The KVM probe uses -cpu host, the TCG one -cpu max, both with the debug-exit device and the BIOS."""
    kvm = accel.probe_argv("qemu", "kvm", tmp_path / "bios.bin")
    assert kvm[kvm.index("-cpu") + 1] == "host"
    assert kvm[kvm.index("-bios") + 1] == str(tmp_path / "bios.bin")
    assert "isa-debug-exit,iobase=0xf4,iosize=0x04" in kvm
    tcg = accel.probe_argv("qemu", "tcg", tmp_path / "bios.bin")
    assert tcg[tcg.index("-cpu") + 1] == "max"


def test_run_probe_kvm_without_dev_kvm_access(tmp_path, monkeypatch, no_subprocess):
    """Without read/write access to /dev/kvm the probe says no at once, without starting QEMU."""
    monkeypatch.setattr(accel.os, "access", lambda path, mode: False)
    works, why = accel.run_probe("qemu", "kvm", tmp_path)
    assert works is False
    assert "/dev/kvm" in why


def test_run_probe_timeout_is_no(tmp_path, monkeypatch):
    """A probe guest that hangs past the timeout means the accelerator does not work."""
    monkeypatch.setattr(accel.os, "access", lambda path, mode: True)

    def hang(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout"))

    monkeypatch.setattr(accel.subprocess, "run", hang)
    works, why = accel.run_probe("qemu", "kvm", tmp_path)
    assert works is False and "did not run" in why


@pytest.mark.parametrize("status, stderr, expected", [
    (99, "", (True, "probe guest ran")),
    (1, "qemu: warning\nqemu-system-x86_64: KVM: entry failed\n", (False, "probe exited 1: qemu-system-x86_64: KVM: entry failed")),
    (134, "", (False, "probe exited 134: no message")),
])
def test_run_probe_exit_status(tmp_path, monkeypatch, status, stderr, expected):
    """Only the debug-exit status counts as success; otherwise the last stderr line is the reason."""
    monkeypatch.setattr(accel.os, "access", lambda path, mode: True)
    monkeypatch.setattr(accel.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, status, "", stderr))
    assert accel.run_probe("qemu", "tcg", tmp_path) == expected
