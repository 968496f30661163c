"""The config.json that `spec` writes: runc 1.1.5's `runc spec`, but without a terminal (args stay ["sh"])."""

import copy
import json
import os

from .errors import ContainerError
from .spec import CONFIG_FILE_NAME

_NAMESPACED_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_DEFAULT_CONFIG = {
    "ociVersion": "1.0.2-dev",
    "process": {
        # runc writes true; this runtime has no console support, and the harness runs containers unattended.
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {name: list(_NAMESPACED_CAPABILITIES)
                         for name in ("bounding", "effective", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}


def default_config(args: list[str] | None = None) -> dict:
    """A fresh copy of the default config, with `args` as process.args if given."""
    config = copy.deepcopy(_DEFAULT_CONFIG)
    if args:
        config["process"]["args"] = list(args)
    return config


def write_default_config(bundle: str, args: list[str] | None = None) -> str:
    """Write config.json into `bundle` (refusing to overwrite one, as runc does); returns its path."""
    path = os.path.join(bundle, CONFIG_FILE_NAME)
    if os.path.exists(path):
        raise ContainerError(f"{path} already exists; remove it first")
    with open(path, "w", encoding="utf-8") as config_file:
        json.dump(default_config(args), config_file, indent="\t")
        config_file.write("\n")
    return path
