"""The runtime-spec features document (`features` verb): what this runtime implements, from its own tables."""

import os

from . import constants as c
from .mount_options import PROPAGATIONS, mount_option_names
from .seccomp_abi import AUDIT_ARCHES, FILTER_FLAGS
from .spec_hooks import HOOK_KINDS
from .spec_seccomp import SECCOMP_ACTIONS, SECCOMP_OPERATORS

# The runtime-spec versions whose configs this runtime reads (spec.py accepts any 1.x; 1.2 is what it implements).
OCI_VERSION_MIN = "1.0.0"
OCI_VERSION_MAX = "1.2.0"
# Hooks this runtime runs, in the order of the lifecycle.
HOOKS = tuple(key for key, _ in HOOK_KINDS)
# Filter flags that a profile may ask for and the runtime then passes to seccomp(2): WAIT_KILLABLE_RECV is for
# notify listeners, which are refused.
SUPPORTED_SECCOMP_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")


def features() -> dict:
    """The features document of runtime-spec features.md, as `runc features` prints it."""
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": list(HOOKS),
        "mountOptions": sorted(mount_option_names() | set(PROPAGATIONS)),
        "linux": {
            "namespaces": sorted(c.NAMESPACE_CLONE_FLAGS),
            "capabilities": sorted(c.CAPABILITIES, key=c.CAPABILITIES.__getitem__),
            "cgroup": {"v1": False, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(SECCOMP_ACTIONS),
                "operators": sorted(SECCOMP_OPERATORS),
                "archs": sorted(AUDIT_ARCHES),
                "knownFlags": sorted(FILTER_FLAGS),
                "supportedFlags": list(SUPPORTED_SECCOMP_FLAGS),
            },
            "apparmor": {"enabled": os.path.isdir("/sys/kernel/security/apparmor")},
            "selinux": {"enabled": os.path.isdir("/sys/fs/selinux")},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"org.kharness.runtime.name": "kharness-bundled"},
    }
