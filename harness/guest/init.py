"""The guest's PID 1: set up the system, run the suites (or one command, or a shell), report, power off."""

from __future__ import annotations

import os
import sys
import termios
import time
import traceback
import tty
from pathlib import Path

from .. import channel
from ..request import EXIT_CANNOT_EXECUTE, EXIT_INIT_FAILED, INIT_READY, GuestRequest
from . import sysfs

RESULTS_PORT = "/dev/ttyS1"
HYPOTHESIS_STORAGE = "/var/cache/kharness-hypothesis"  # harness.image.hypothesis_cache.GUEST_STORAGE
OUT = Path("/tmp/kharness")


def say(message: str) -> None:
    print(f"kharness-guest: {message}", flush=True)


def run_child(argv: list[str], env: dict, **kwargs) -> int:
    """Spawn argv and wait for it as PID 1 must: reaping every orphan that is reparented to us."""
    import subprocess
    child = subprocess.Popen(argv, env=env, **kwargs)
    while True:
        pid, status = os.wait()
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode


# Seconds one test may take in a guest (the host's KHARNESS_TEST_TIMEOUT overrides): a hung test fails alone
# instead of eating the guest's whole deadline. The longest tests took 70-160 s under TCG on this machine, and
# twice that on a loaded CI runner, where 240 s failed one (2026-12-04): the limit catches hangs, not slowness.
DEFAULT_TEST_TIMEOUT = "420"


def pytest_argv(request: GuestRequest) -> list[str]:
    """pytest over the paths the host chose (it decided which forwarded arguments are paths), then its options."""
    forwarded = list(request.pytest_args)
    # pytest-benchmark only where benchmarks may be collected: its import costs seconds under TCG.
    benchmarking = any(p.split("::")[0].startswith("benchmarks") for p in request.paths) or \
        any(a.startswith("--benchmark") for a in forwarded)
    plugin = ["-p", "pytest_benchmark.plugin", f"--benchmark-json={OUT / 'benchmark.json'}"] if benchmarking else []
    return [
        sys.executable, "-B", "-m", "pytest", *request.paths, *plugin,
        f"--junitxml={OUT / 'junit.xml'}", "-o", f"junit_suite_name={request.kernel}",
        "-p", "no:cacheprovider", "-v",
        f"--test-timeout={request.env.get('KHARNESS_TEST_TIMEOUT', DEFAULT_TEST_TIMEOUT)}",
        *forwarded,
    ]


def guest_env(request: GuestRequest) -> dict:
    env = dict(os.environ)
    env.update(request.env)  # the suite knobs the host forwarded (harness.run.SUITE_ENV)
    env.update({
        "KHARNESS_GUEST": "1",
        "KHARNESS_KERNEL": request.kernel,
        "KHARNESS_EXPECTED_RELEASE": request.release,
        **{f"KHARNESS_{key.upper()}": str(value) for key, value in request.context.items()},
        # Third-party plugins load only when asked for: every import costs ~20x under TCG.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # The caches the image carries (harness.image.hypothesis_cache): computed in a guest, they cost minutes.
        "HYPOTHESIS_STORAGE_DIRECTORY": HYPOTHESIS_STORAGE,
        "TERM": "dumb",
    })
    return env


def send(files: dict[str, bytes], status: int) -> None:
    """Write the results to the second serial port and wait until they are on the wire."""
    fd = os.open(RESULTS_PORT, os.O_WRONLY | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        for name, data in files.items():
            os.write(fd, channel.encode_file(name, data))
        os.write(fd, channel.encode_exit(status))
        termios.tcdrain(fd)
    finally:
        os.close(fd)


def run(request: GuestRequest) -> tuple[dict[str, bytes], int]:
    mode = request.mode
    env = guest_env(request)
    if mode == "run":
        OUT.mkdir(parents=True, exist_ok=True)
        status = run_child(pytest_argv(request), env)
        files = {p.name: p.read_bytes() for p in OUT.iterdir() if p.is_file()}
        return files, status
    if mode == "exec":
        import subprocess
        with open("/tmp/stdout", "wb") as out, open("/tmp/stderr", "wb") as err:
            try:
                status = run_child(list(request.command), env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            except OSError as exc:
                err.write(f"kharness: cannot execute {request.command[0]!r}: {exc.strerror}\n".encode())
                status = EXIT_CANNOT_EXECUTE
        return {"stdout": Path("/tmp/stdout").read_bytes(), "stderr": Path("/tmp/stderr").read_bytes()}, status
    if mode == "shell":
        say("interactive shell; `exit` or Ctrl-D powers the guest off")
        status = run_child(["/usr/bin/busybox", "setsid", "cttyhack", "/bin/sh", "-l"], env)
        return {}, status
    raise ValueError(f"unknown mode {mode!r}")


def main() -> None:
    status, files = EXIT_INIT_FAILED, {}
    try:
        cwd = os.getcwd()
        sysfs.leave_rootfs()
        os.chdir(cwd)
        sysfs.mount_all()
        sysfs.loopback_up()
        request = GuestRequest.from_cmdline(Path("/proc/cmdline").read_text())
        missing = sysfs.enable_controllers()
        try:
            sysfs.pin_device_program()
        except (OSError, RuntimeError) as error:
            # A custom kernel without cgroup BPF (OSError, or the runtime's ContainerError): only the TCG workaround
            # goes, so say it and go on.
            say(f"cannot pin the cgroup device program (static key may toggle per container): {error}")
        try:
            sysfs.pin_cfs_bandwidth()
        except OSError as error:  # a kernel without CFS bandwidth control (no cpu.max): nothing to keep on
            say(f"cannot pin a CPU quota (the CPU bandwidth static key may toggle per test): {error}")
        loaded = sysfs.load_modules()
        uptime = Path("/proc/uptime").read_text().split()[0]
        print(f"{INIT_READY} {uptime} s uptime; modules {','.join(loaded) or 'none'}"
              + (f"; cgroup controllers missing: {','.join(missing)}" if missing else ""), flush=True)
        files, status = run(request)
    except BaseException:  # PID 1 must never exit: report anything and power off cleanly
        say("init failed:\n" + traceback.format_exc())
        status = EXIT_INIT_FAILED
    try:
        send(files, status)
    except OSError as exc:
        say(f"cannot send results over {RESULTS_PORT}: {exc}")
    say(f"powering off, status {status}")
    sysfs.power_off()
    time.sleep(60)  # reboot(2) does not return on success


if __name__ == "__main__":
    main()
