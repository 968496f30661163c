"""AppArmor and SELinux labels: refused where the LSM is not active, written to /proc/self/attr where it is."""

from __future__ import annotations

import errno
import os

from .errors import ContainerError, SpecError
from .spec_linux import Linux
from .spec_process import Process
from .syscalls import Syscalls

# Which LSM paths answer "is it active?", as runc (apparmor.IsEnabled) and go-selinux (GetEnabled) ask.
APPARMOR_SECURITYFS = "sys/kernel/security/apparmor"
APPARMOR_ENABLED = "sys/module/apparmor/parameters/enabled"
SELINUXFS = "sys/fs/selinux"
CURRENT_LABEL = "proc/self/attr/current"


def apparmor_enabled(root: str = "/") -> bool:
    """AppArmor is active: its securityfs directory exists and the module says "Y"."""
    if not os.path.isdir(os.path.join(root, APPARMOR_SECURITYFS)):
        return False
    return _read(os.path.join(root, APPARMOR_ENABLED)).startswith("Y")


def selinux_enabled(root: str = "/") -> bool:
    """SELinux is active: selinuxfs is there and the process has a label other than the pre-policy "kernel"."""
    if not os.path.isfile(os.path.join(root, SELINUXFS, "enforce")):
        return False
    label = _read(os.path.join(root, CURRENT_LABEL)).rstrip("\0\n")
    return label not in ("", "kernel", "unconfined")  # "unconfined" is AppArmor's answer to the same file


def check_lsm(process: Process, linux: Linux, root: str = "/") -> None:
    """Refuse a label for an LSM this host does not run: the container would otherwise run unconfined."""
    if process.apparmor_profile and not apparmor_enabled(root):
        raise SpecError("process.apparmorProfile", "AppArmor is not enabled on this host "
                                                   f"(no /{APPARMOR_SECURITYFS}); remove the field")
    for path, label in (("process.selinuxLabel", process.selinux_label), ("linux.mountLabel", linux.mount_label)):
        if label and not selinux_enabled(root):
            raise SpecError(path, f"SELinux is not enabled on this host (no /{SELINUXFS}); remove the field")


def apply_exec_labels(process: Process, syscalls: Syscalls) -> None:
    """Ask the LSM to switch to the container's profile or label at the next execve, as runc does before exec.

    AppArmor takes "exec PROFILE" in its own attr directory (Linux 5.1) or the shared one before; SELinux the bare
    label in the shared one. Errors name the JSON path.
    """
    if process.apparmor_profile:
        text = f"exec {process.apparmor_profile}"
        try:
            _write_attr("/proc/self/attr/apparmor/exec", text, syscalls)
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise ContainerError(f"process.apparmorProfile: {error}") from error
            _write_or_refuse("/proc/self/attr/exec", text, "process.apparmorProfile", syscalls)
    if process.selinux_label:
        _write_or_refuse("/proc/self/attr/exec", process.selinux_label, "process.selinuxLabel", syscalls)


def _write_or_refuse(path: str, text: str, what: str, syscalls: Syscalls) -> None:
    try:
        _write_attr(path, text, syscalls)
    except OSError as error:
        raise ContainerError(f"{what}: {error}") from error


def _write_attr(path: str, text: str, syscalls: Syscalls) -> None:
    # One write: the LSM parses each write(2) to an attr file as a whole command.
    fd = syscalls.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        syscalls.write(fd, text.encode())
    finally:
        syscalls.close(fd)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""
