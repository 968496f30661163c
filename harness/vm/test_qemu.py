"""Tests of the QEMU command line: CPU per accel, devices, serial ports, kernel command line and request."""

from pathlib import Path

import pytest

from harness.request import GuestRequest
from harness.vm import qemu
from harness.vm.qemu import CMDLINE_LIMIT, GuestConfig, QemuError, argv, find_qemu


def config(tmp_path: Path, **kw) -> GuestConfig:
    """A guest config with paths under tmp_path."""
    return GuestConfig(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd.cpio",
                       results=tmp_path / "results.txt", **kw)


def option_values(args: list[str], option: str) -> list[str]:
    """Every value given to `option` in an argv."""
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == option]


def append_words(args: list[str]) -> list[str]:
    """The words of the -append kernel command line."""
    (line,) = option_values(args, "-append")
    return line.split(" ")


def decoded_request(words: list[str]) -> GuestRequest:
    """The request carried by kharness.config=, read back as the guest reads it."""
    return GuestRequest.from_cmdline(" ".join(words))


def run_request(**fields) -> GuestRequest:
    """A run request for 6.1 with these fields."""
    return GuestRequest("run", "6.1", **fields)


def test_tcg_uses_cpu_max_without_cx16(tmp_path):
    """Under TCG the CPU is `max` (RDRAND, so getrandom() does not block at boot) without CMPXCHG16B, whose
    emulation corrupted EFLAGS in a 6.12 guest (see vm-images/qemu-x86_64.toml)."""
    args = argv(config(tmp_path, accel="tcg"))
    assert option_values(args, "-cpu") == ["max,-cx16"]
    assert option_values(args, "-accel") == ["tcg"]


def test_kvm_uses_cpu_host(tmp_path):
    """Under KVM the CPU is `host`."""
    args = argv(config(tmp_path, accel="kvm"))
    assert option_values(args, "-cpu") == ["host"]
    assert option_values(args, "-accel") == ["kvm"]


def test_unknown_accel_is_an_error(tmp_path):
    """An accelerator the data file does not describe raises QemuError."""
    with pytest.raises(QemuError, match="'hvf'"):
        argv(config(tmp_path, accel="hvf"))


def test_fixed_options_and_paths(tmp_path):
    """No defaults, no reboot, the data file's binary and machine, memory, CPUs, kernel and initrd."""
    cfg = config(tmp_path, memory_mb=768, cpus=1)
    args = argv(cfg)
    params = qemu.arch_params()
    assert args[0] == params["binary"]
    for flag in ("-no-reboot", "-nodefaults", "-no-user-config"):
        assert flag in args
    assert option_values(args, "-machine") == [params["machine"]]
    assert option_values(args, "-m") == ["768"]
    assert option_values(args, "-smp") == ["1"]
    assert option_values(args, "-kernel") == [str(tmp_path / "vmlinuz")]
    assert option_values(args, "-initrd") == [str(tmp_path / "initrd.cpio")]
    assert argv(cfg, binary="/opt/qemu/bin/qemu-system-x86_64")[0] == "/opt/qemu/bin/qemu-system-x86_64"


def test_two_serial_ports_console_on_stdio_results_to_file(tmp_path):
    """COM1 is a stdio chardev (the console), COM2 a file chardev (the results channel), in that order."""
    args = argv(config(tmp_path))
    assert option_values(args, "-serial") == ["chardev:console", "chardev:results"]
    chardevs = option_values(args, "-chardev")
    assert "stdio,id=console,signal=off" in chardevs
    assert f"file,id=results,path={tmp_path / 'results.txt'}" in chardevs
    assert "mon:stdio" not in args


def test_interactive_console_is_mon_stdio(tmp_path):
    """The interactive shell puts the console and monitor on stdio; results still go to a file."""
    args = argv(config(tmp_path, interactive=True))
    assert option_values(args, "-serial") == ["mon:stdio", "chardev:results"]
    assert option_values(args, "-chardev") == [f"file,id=results,path={tmp_path / 'results.txt'}"]


def test_append_has_console_panic_and_request(tmp_path):
    """The kernel command line has console=ttyS0, panic=-1, extra words, and the request, read back equal."""
    request = run_request(paths=("suites",), pytest_args=("-k", "cgroup and not slow", "-x"),
                          env={"KHARNESS_LIFECYCLE_RUNS": "é"}, context={"accel": "tcg"})
    words = append_words(argv(config(tmp_path, append=("printk.time=1",), request=request)))
    assert "console=ttyS0" in words
    assert "panic=-1" in words
    assert "printk.time=1" in words
    assert decoded_request(words) == request


def test_payload_word_has_no_spaces_or_shell_unsafe_characters(tmp_path):
    """The payload is one word of URL-safe base64, whatever the JSON holds."""
    request = run_request(pytest_args=("a b", "c/d+e", "?" * 40))
    (word,) = [w for w in append_words(argv(config(tmp_path, request=request))) if w.startswith("kharness.config=")]
    value = word.split("=", 1)[1]
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")


def test_payload_too_large_for_command_line(tmp_path):
    """A payload that makes the command line reach 2048 bytes raises QemuError with the length."""
    with pytest.raises(QemuError, match=f"the x86 limit is {CMDLINE_LIMIT}"):
        argv(config(tmp_path, request=run_request(pytest_args=("x" * 2000,))))


def test_command_line_just_under_the_limit_is_accepted(tmp_path):
    """The longest accepted command line is 2047 bytes (COMMAND_LINE_SIZE counts the NUL)."""
    params = qemu.arch_params()
    base = len(qemu.kernel_cmdline(config(tmp_path, request=run_request(release="")), params))
    assert base < CMDLINE_LIMIT
    # grow the payload one byte of JSON at a time until the limit is reached
    size = 0
    while True:
        try:
            qemu.kernel_cmdline(config(tmp_path, request=run_request(release="x" * (size + 1))), params)
        except QemuError:
            break
        size += 1
    longest = qemu.kernel_cmdline(config(tmp_path, request=run_request(release="x" * size)), params)
    assert CMDLINE_LIMIT - 4 <= len(longest) <= CMDLINE_LIMIT - 1


def test_find_qemu_missing_binary(tmp_path, monkeypatch):
    """Without the binary on PATH find_qemu raises QemuError saying how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuError, match="qemu-system-x86_64 not found on PATH"):
        find_qemu()


def test_find_qemu_on_path(tmp_path, monkeypatch):
    """An executable of the data file's name on PATH is found."""
    fake = tmp_path / "qemu-system-x86_64"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_qemu() == str(fake)


def test_icount_clock_runs_single_threaded_tcg_with_the_data_files_icount(tmp_path):
    """--clock icount: single-threaded TCG and -icount from qemu-x86_64.toml; the real clock adds neither."""
    args = argv(config(tmp_path, accel="tcg", clock="icount"))
    assert option_values(args, "-accel") == ["tcg,thread=single"]
    assert option_values(args, "-icount") == [qemu.arch_params()["accel"]["tcg"]["icount"]]
    assert "-icount" not in argv(config(tmp_path, accel="tcg"))


def test_icount_clock_under_kvm_is_refused_with_the_fix(tmp_path):
    """KVM runs guest code natively, so it cannot count instructions: the error says to use --clock real."""
    with pytest.raises(QemuError, match="needs TCG.*use --clock real"):
        argv(config(tmp_path, accel="kvm", clock="icount"))
    with pytest.raises(QemuError, match="clock 'wall': expected real or icount"):
        argv(config(tmp_path, accel="tcg", clock="wall"))


def test_the_guest_gets_a_scratch_disk_that_keeps_nothing(tmp_path):
    """A virtio-blk disk backed by null-co (io.max needs a block device; nothing is written on the host)."""
    args = argv(config(tmp_path))
    (blockdev,) = option_values(args, "-blockdev")
    assert blockdev.startswith("driver=null-co,") and "read-zeroes=on" in blockdev
    assert "virtio-blk-pci,drive=scratch" in option_values(args, "-device")
