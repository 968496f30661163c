"""A fake qemu-system binary for unit tests: replays a saved console and results channel, then exits or hangs.

It takes the command line harness.vm.qemu.argv builds. The `-kernel` file is a scenario (JSON), so every
guest of a parallel run can replay its own; paths in it are relative to the scenario file:

    {
      "console": "boot-6.12-passed.log",  saved console, written to stdout line by line (\\r\\n endings)
      "line_delay": 0.0,                  seconds between console lines
      "files": {"junit.xml": "junit-6.12-passed.xml"},  sent over the results channel, in this order
      "exit_status": 0,                   the channel's exit line; absent or null: none is sent
      "send_before": "kharness-guest: powering off",    send the channel before the first console
                                          line containing this text (default: after the whole console)
      "damage": {"file": "junit.xml", "kind": "truncate" | "sha256"},
                                          truncate: that file's frame is cut mid-body and nothing more is
                                          sent, and the console stops where the channel was sent;
                                          sha256: its body is altered (same size), the rest is sent
      "end": "exit" | "hang",             hang: keep running (with "helpers" children) until killed
      "helpers": 0,                       child processes that sleep in the fake's process group
      "qemu_status": 0,                   the fake's exit status when it exits
      "stderr": ""                        written to stderr before the end
    }

The pids of the fake and its helpers are written to fake-qemu.pids next to the results file, so a test can
check that nothing outlives the harness's kill. `install(directory)` writes the executable to pass as
`binary=`: a shell script running this module with the test's own interpreter.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import channel

PIDS_FILE = "fake-qemu.pids"
# QEMU options of the harness's command line that take no value; every other option takes one.
_FLAGS = {"-nodefaults", "-no-user-config", "-no-reboot", "-nographic", "-S", "-snapshot"}


class UsageError(Exception):
    """The command line is not one the harness should have built."""


@dataclass(frozen=True)
class Invocation:
    """What the fake needs from QEMU's argv."""

    scenario: Path
    initrd: Path
    results: Path
    append: str


def _chardev(spec: str) -> tuple[str, dict[str, str]]:
    backend, *props = spec.split(",")
    return backend, dict(p.split("=", 1) for p in props if "=" in p)


def parse_argv(args: list[str]) -> Invocation:
    """Read the options the harness builds; refuse a command line whose console or results channel is missing."""
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        opt = args[i]
        if not opt.startswith("-"):
            raise UsageError(f"unexpected argument {opt!r}")
        if opt in _FLAGS:
            opts.setdefault(opt, []).append("")
            i += 1
            continue
        if i + 1 >= len(args):
            raise UsageError(f"{opt} needs a value")
        opts.setdefault(opt, []).append(args[i + 1])
        i += 2
    for required in ("-kernel", "-initrd", "-append"):
        if required not in opts:
            raise UsageError(f"no {required}")
    chardevs = {props.get("id"): (backend, props) for backend, props in map(_chardev, opts.get("-chardev", []))}
    serials = opts.get("-serial", [])
    # The guest's COM1 must be the console on stdout and COM2 the results file, in that order.
    if len(serials) != 2 or not serials[1].startswith("chardev:"):
        raise UsageError(f"expected two serial ports, console then results; got {serials}")
    console_ok = serials[0] == "mon:stdio" or chardevs.get(serials[0].removeprefix("chardev:"), ("",))[0] == "stdio"
    if not console_ok:
        raise UsageError(f"the first serial port is not stdio: {serials[0]}")
    backend, props = chardevs.get(serials[1].removeprefix("chardev:"), ("", {}))
    if backend != "file" or "path" not in props:
        raise UsageError(f"the second serial port is not a file chardev: {serials[1]}")
    return Invocation(Path(opts["-kernel"][-1]), Path(opts["-initrd"][-1]), Path(props["path"]), opts["-append"][-1])


def channel_bytes(files: dict[str, bytes], exit_status: int | None, damage: dict | None) -> bytes:
    """The results channel as the guest would write it, with the scenario's damage (built with harness.channel)."""
    out = b""
    for name, data in files.items():
        frame = channel.encode_file(name, data)
        if damage and damage.get("file") == name:
            head, _, body = frame.partition(b"\n")
            if damage["kind"] == "truncate":
                # The guest stopped while sending: half the body, cut mid-line, and nothing after it.
                return out + head + b"\n" + body[: len(body) // 2 - 3]
            if damage["kind"] == "sha256":
                # Same size, one byte different: only the checksum can notice.
                altered = bytes([data[0] ^ 0x01]) + data[1:]
                frame = head + b"\n" + channel.encode_file(name, altered).partition(b"\n")[2]
            else:
                raise UsageError(f"unknown damage kind {damage['kind']!r}")
        out += frame
    if exit_status is not None:
        out += channel.encode_exit(exit_status)
    return out


def _spawn_helpers(count: int) -> list[int]:
    # Children stay in the fake's process group, as a real QEMU's helpers would: the harness must kill them too.
    # They hold the stderr pipe (as such helpers do), so a survivor also delays run_guest; they give up after
    # 30 s so a harness that fails to kill them leaks nothing for long.
    return [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).pid for _ in range(count)]


def replay(inv: Invocation) -> int:
    """Play the scenario named by the invocation; return the exit status (or never return, for a hang)."""
    scenario = json.loads(inv.scenario.read_text())
    base = inv.scenario.parent
    pids = [os.getpid(), *_spawn_helpers(int(scenario.get("helpers", 0)))]
    (inv.results.parent / PIDS_FILE).write_text("".join(f"{pid}\n" for pid in pids))
    files = {name: (base / rel).read_bytes() for name, rel in scenario.get("files", {}).items()}
    stream = channel_bytes(files, scenario.get("exit_status"), scenario.get("damage"))
    console = (base / scenario["console"]).read_text() if "console" in scenario else ""
    send_before = scenario.get("send_before")
    delay = float(scenario.get("line_delay", 0.0))
    sent = False
    truncated = (scenario.get("damage") or {}).get("kind") == "truncate"
    # QEMU truncates the file chardev when it opens it, before the guest runs.
    with inv.results.open("wb") as results:
        for line in console.splitlines():
            if not sent and send_before and send_before in line:
                results.write(stream)
                results.flush()
                sent = True
                if truncated:
                    break  # the guest stopped while sending: its console stops there too
            # A serial console ends lines with \r\n; the harness must strip the \r.
            sys.stdout.buffer.write(line.encode() + b"\r\n")
            sys.stdout.buffer.flush()
            if delay:
                time.sleep(delay)
        if not sent:
            results.write(stream)
    if scenario.get("stderr"):
        sys.stderr.write(scenario["stderr"])
        sys.stderr.flush()
    if scenario.get("end", "exit") == "hang":
        while True:
            time.sleep(3600)
    return int(scenario.get("qemu_status", 0))


def main(args: list[str]) -> int:
    if args == ["--version"]:
        print("QEMU emulator version 0.0.0 (kharness fake_qemu)")
        return 0
    try:
        inv = parse_argv(args)
    except UsageError as error:
        sys.stderr.write(f"fake-qemu: {error}\n")
        return 1
    if not inv.initrd.is_file():
        # As QEMU does: the run stops before any guest output.
        sys.stderr.write(f"qemu: could not load initrd '{inv.initrd}'\n")
        return 1
    return replay(inv)


def install(directory: Path) -> Path:
    """Write an executable `qemu-system-x86_64` in `directory` that runs this fake; return its path."""
    root = Path(__file__).resolve().parents[2]
    script = directory / "qemu-system-x86_64"
    # exec keeps the pid: the pid the harness started is the fake's own.
    script.write_text("#!/bin/sh\n"
                      f"PYTHONPATH={shlex.quote(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} "
                      f"exec {shlex.quote(sys.executable)} -m harness.vm.fake_qemu \"$@\"\n")
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
