"""Hypothesis strategies of valid config edits that runc, crun and ours all implement, with a probe and its oracle."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field

from hypothesis import strategies as st

# Capability numbers (linux/capability.h), written out here rather than taken from the runtime under test: the
# expected CapBnd/CapPrm/CapEff masks must not depend on the code they check.
CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
               "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10, "CAP_SYS_CHROOT": 18, "CAP_AUDIT_WRITE": 29}
# Directories of the busybox rootfs (harness/runtime/rootfs_builder.py) every uid may enter.
CWDS = ("/", "/tmp", "/etc", "/bin")
# Files and directories of /proc a mask may cover; absent ones (no ACPI, no SCSI, no kcore) are skipped by every
# runtime, so they stay "absent" whatever the config says.
MASK_CANDIDATES = ("/proc/acpi", "/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/scsi")
# System V IPC sysctls: held by the ipc namespace the default config has, so every runtime accepts them.
SYSCTL_KEYS = ("kernel.shmmax", "kernel.msgmax", "kernel.msgmnb")
TMPFS_FLAGS = ("ro", "nosuid", "nodev", "noexec")
TMPFS_POINT = "/mnt/t"
# errnoRet -> the text busybox prints for it (glibc and musl agree on these three).
ERRNO_TEXT = {1: "Operation not permitted", 13: "Permission denied", 30: "Read-only file system"}
# busybox `mkdir -m MODE` calls mkdir(path, 0777) and chmods afterwards (checked with strace): the mode argument a
# seccomp condition sees is always 0777, whatever MODE is.
MKDIR_SYSCALL_MODE = 0o777
MKDIR_MODES = ("700", "750", "755")
ENV_NAME = "KH_VAR"

# One line per observable, NAME=VALUE. Capabilities are read from /proc/$$, the shell itself: the process the runtime
# executed (its children would show the same sets, but the shell is the one the runtime set up). The write probe
# touches the shared rootfs when root is writable, and removes what it made.
PROBE = r"""
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "hostname=$(hostname)"
echo "cwd=$(pwd)"
echo "env=[$KH_VAR]"
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
sed -nE 's/^(CapEff|CapPrm|CapBnd|NoNewPrivs):[[:space:]]*/\1=/p' /proc/$$/status
echo "oom_score_adj=$(cat /proc/self/oom_score_adj)"
for key in SYSCTL_KEYS; do echo "sysctl:$key=$(cat /proc/sys/$(echo $key | tr . /))"; done
echo "mnt=$(awk '$2 == "/mnt/t" { print $4 }' /proc/self/mounts)"
echo "root=$(awk '$2 == "/" { o = $4 } END { print o }' /proc/self/mounts)"
if out=$(touch /.kh-write-probe 2>&1); then rm -f /.kh-write-probe; echo "write=ok"; else echo "write=${out##*: }"; fi
for p in MASK_CANDIDATES; do
  if [ ! -e $p ]; then s=absent
  elif [ -c $p ]; then if [ -z "$(head -c 1 $p 2>/dev/null)" ]; then s=masked; else s=chardev; fi
  elif [ -d $p ] && awk -v p=$p '$2 == p { f = 1 } END { exit !f }' /proc/self/mounts; then
    if [ -z "$(ls -A $p)" ]; then s=masked; else s=mounted-dir; fi
  else s=open; fi
  echo "mask:$p=$s"
done
out=$(mkdir -m MKDIR_MODE /tmp/kh-dir 2>&1)
echo "mkdir_status=$?"
echo "mkdir_error=${out##*: }"
if [ -d /tmp/kh-dir ]; then echo "mkdir_mode=$(stat -c %a /tmp/kh-dir)"; else echo "mkdir_mode=none"; fi
echo "end=ok"
"""


@dataclass(frozen=True)
class Case:
    """Config edits by JSON path (a key ending in "+" appends to that array) and the probe's mkdir mode."""

    edits: dict = field(default_factory=dict)
    mkdir_mode: str = "755"

    def apply(self, config: dict) -> dict:
        """A copy of `config` with the edits made and the probe as process.args."""
        config = copy.deepcopy(config)
        for path, value in self.edits.items():
            *parents, last = path.split(".")
            node = config
            for name in parents:
                node = node.setdefault(name, {})
            if last.endswith("+"):
                node.setdefault(last[:-1], []).append(copy.deepcopy(value))
            else:
                node[last] = copy.deepcopy(value)
        config["process"]["args"] = ["sh", "-c", self.script()]
        return config

    def script(self) -> str:
        """The probe: one busybox sh script printing every observable as NAME=VALUE."""
        script = PROBE.replace("SYSCTL_KEYS", " ".join(SYSCTL_KEYS))
        script = script.replace("MASK_CANDIDATES", " ".join(MASK_CANDIDATES)).replace("MKDIR_MODE", self.mkdir_mode)
        return script.strip() + "\n"

    def describe(self) -> str:
        """The edits as JSON, for failure messages."""
        return json.dumps({**self.edits, "probe.mkdirMode": self.mkdir_mode}, indent=1, sort_keys=True)


def parse(stdout: str) -> dict:
    """The probe's NAME=VALUE lines as a dict (a line without "=" is kept whole, so that it shows in a diff)."""
    view = {}
    for line in stdout.splitlines():
        name, sep, value = line.partition("=")
        view[name if sep else f"unparsed:{line}"] = value
    return view


def mount_flags(options: str) -> str:
    """The options a config can ask of the tmpfs (ro/rw, nosuid, nodev, noexec, size=), in a fixed order; a size in
    kB is rounded up to whole pages, as tmpfs does (and shows it in /proc/self/mounts)."""
    given = options.split(",")
    flags = ["ro" if "ro" in given else "rw"] + [f for f in TMPFS_FLAGS[1:] if f in given]
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    sizes = [-(-int(o[5:-1]) // page_kb) * page_kb for o in given if o.startswith("size=") and o.endswith("k")]
    return ",".join(flags + [f"size={kb}k" for kb in sizes[-1:]])


def cap_mask(names) -> str:
    """A capability set as /proc/<pid>/status prints it (16 hex digits)."""
    return f"{sum(1 << CAP_NUMBERS[name] for name in set(names)):016x}"


def seccomp_denies(profile: dict | None) -> int | None:
    """The errno the profile makes busybox's mkdir(path, 0777) fail with; None if it is allowed."""
    if profile is None:
        return None
    for rule in profile["syscalls"]:
        if not {"mkdir", "mkdirat"} & set(rule["names"]):
            continue
        if all(_holds(arg, MKDIR_SYSCALL_MODE) for arg in rule.get("args", ())):
            return rule.get("errnoRet", 1)
    return None


def _holds(arg: dict, value: int) -> bool:
    if arg["op"] == "SCMP_CMP_EQ":
        return value == arg["value"]
    assert arg["op"] == "SCMP_CMP_MASKED_EQ", arg
    # OCI: `value` is the mask, `valueTwo` the datum; libseccomp (runc, crun) masks both sides, so the rule holds
    # when (arg & value) == (valueTwo & value), not only when (arg & value) == valueTwo.
    return value & arg["value"] == arg.get("valueTwo", 0) & arg["value"]


def expected(config: dict, mkdir_mode: str, host_oom_score_adj: str, existing: frozenset) -> dict:
    """What the probe must print for this (edited) config, from the kernel's rules alone.

    `host_oom_score_adj`: what the runtime's process has (inherited when the config sets none); `existing`: which
    MASK_CANDIDATES exist on the running kernel."""
    process, linux = config["process"], config.get("linux", {})
    user = process["user"]
    uid, gid = user["uid"], user["gid"]
    caps = process.get("capabilities", {})
    bounding, permitted = caps.get("bounding", []), caps.get("permitted", [])
    nnp = bool(process.get("noNewPrivileges"))
    # execve by uid 0 (no file capabilities, empty inheritable and ambient sets): permitted becomes the bounding set,
    # cut back to the old permitted set under no_new_privs; effective follows permitted. Any other uid gets none.
    if uid == 0:
        prm = cap_mask(permitted) if nnp else cap_mask(bounding)
    else:
        prm = cap_mask([])
    nofile = next(r for r in process["rlimits"] if r["type"] == "RLIMIT_NOFILE")
    readonly = bool(config.get("root", {}).get("readonly"))
    view = {
        "uid": str(uid), "gid": str(gid),
        # busybox `id -G`: the gid, then the supplementary groups (the kernel sorts them) other than the gid.
        "groups": " ".join(str(g) for g in [gid, *sorted(set(user.get("additionalGids", [])) - {gid})]),
        "hostname": config["hostname"], "cwd": process["cwd"],
        "env": "[" + next((e.split("=", 1)[1] for e in reversed(process["env"]) if e.startswith(ENV_NAME + "=")),
                          "") + "]",
        "nofile": str(nofile["soft"]), "nofile_hard": str(nofile["hard"]),
        "CapBnd": cap_mask(bounding), "CapPrm": prm, "CapEff": prm, "NoNewPrivs": "1" if nnp else "0",
        "oom_score_adj": str(process.get("oomScoreAdj", host_oom_score_adj)),
        "root": "ro" if readonly else "rw",
        # EROFS comes before the permission check; / of the rootfs is root's, 0755.
        "write": "Read-only file system" if readonly else ("ok" if uid == 0 else "Permission denied"),
        "end": "ok",
    }
    for key, value in linux.get("sysctl", {}).items():
        view[f"sysctl:{key}"] = value
    tmpfs = [m for m in config.get("mounts", []) if m["destination"] == TMPFS_POINT]
    view["mnt"] = mount_flags(",".join(tmpfs[-1].get("options", []))) if tmpfs else ""
    masked = set(linux.get("maskedPaths", []))
    for path in MASK_CANDIDATES:
        view[f"mask:{path}"] = "absent" if path not in existing else ("masked" if path in masked else "open")
    errno = seccomp_denies(linux.get("seccomp"))
    view.update({"mkdir_status": "1", "mkdir_error": ERRNO_TEXT[errno], "mkdir_mode": "none"} if errno else
                {"mkdir_status": "0", "mkdir_error": "", "mkdir_mode": mkdir_mode})
    return view


def reduce_for_expectation(view: dict) -> dict:
    """An observed view in the form `expected` predicts: mount options reduced to what a config asks for."""
    view = dict(view)
    view["mnt"] = mount_flags(view["mnt"]) if view.get("mnt") else ""
    view["root"] = "ro" if "ro" in view.get("root", "").split(",") else "rw"
    # /proc/acpi and /proc/scsi are directories: "open" is what the expectation calls an unmasked one.
    return {k: ("open" if k.startswith("mask:") and v in ("chardev", "mounted-dir") else v) for k, v in view.items()}


# Strategies, one per field.

hostnames = st.from_regex(r"[a-z][a-z0-9.-]{0,62}", fullmatch=True)  # at most 63 bytes: the kernel allows 64
# Shell-special characters too: the runtime passes the entry verbatim and the probe prints it inside double quotes.
env_entries = st.text(alphabet="abcXYZ019_.:/-= $*'\"", max_size=12).map(lambda value: f"{ENV_NAME}={value}")
ids = st.integers(0, 2000)
users = st.builds(lambda uid, gid, extra: {"uid": uid, "gid": gid, "additionalGids": extra},
                  ids, ids, st.lists(ids, unique=True, max_size=4))


@st.composite
def rlimits(draw) -> list:
    hard = draw(st.integers(64, 4096))
    return [{"type": "RLIMIT_NOFILE", "soft": draw(st.integers(64, hard)), "hard": hard}]


@st.composite
def capabilities(draw) -> dict:
    """effective ⊆ permitted ⊆ bounding (a valid set, as runc requires); ambient empty."""
    bounding = draw(st.lists(st.sampled_from(sorted(CAP_NUMBERS)), unique=True))
    permitted = draw(st.lists(st.sampled_from(bounding), unique=True)) if bounding else []
    effective = draw(st.lists(st.sampled_from(permitted), unique=True)) if permitted else []
    return {"bounding": sorted(bounding), "effective": sorted(effective), "permitted": sorted(permitted),
            "ambient": []}


@st.composite
def tmpfs_mounts(draw) -> dict:
    """A tmpfs at TMPFS_POINT, its options in any order; sizes that are not whole pages too (the kernel rounds up)."""
    flags = [f for f in TMPFS_FLAGS if draw(st.booleans())]
    size = draw(st.sampled_from((1, 6, 64, 100, 128, 1024, 4096)))
    return {"destination": TMPFS_POINT, "type": "tmpfs", "source": "tmpfs",
            "options": draw(st.permutations([*flags, f"size={size}k"]))}


masked_paths = st.lists(st.sampled_from(MASK_CANDIDATES), unique=True)
sysctls = st.dictionaries(st.sampled_from(SYSCTL_KEYS), st.integers(1024, 1 << 20).map(str), min_size=1)


@st.composite
def mkdir_conditions(draw) -> dict | None:
    """None, or a condition on mkdir's mode argument (evaluated against 0777 by seccomp_denies)."""
    kind = draw(st.sampled_from((None, "SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ")))
    if kind == "SCMP_CMP_EQ":
        return {"op": kind, "value": draw(st.sampled_from((0o777, 0o755, 0o700)))}
    if kind == "SCMP_CMP_MASKED_EQ":
        return {"op": kind, "value": draw(st.sampled_from((0o700, 0o070, 0o022, 0o777))),
                "valueTwo": draw(st.sampled_from((0o700, 0o000, 0o020, 0o777)))}
    return None


@st.composite
def seccomp_profiles(draw) -> dict:
    """Allow everything but mkdir/mkdirat, which fail with errnoRet (if a condition on the mode holds)."""
    errno = draw(st.sampled_from(sorted(ERRNO_TEXT)))
    condition = draw(mkdir_conditions())
    deny = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno}
    if condition is None:
        rules = [{"names": ["mkdir", "mkdirat"], **deny}]
    else:
        # The mode is argument 1 of mkdir(path, mode) and 2 of mkdirat(dirfd, path, mode): one rule each.
        rules = [{"names": ["mkdir"], **deny, "args": [{"index": 1, **condition}]},
                 {"names": ["mkdirat"], **deny, "args": [{"index": 2, **condition}]}]
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}


# Every field is optional: an absent key leaves the default config's value (and shrinking drops keys).
FIELDS = {
    "hostname": hostnames,
    "process.env+": env_entries,
    "process.cwd": st.sampled_from(CWDS),
    "process.user": users,
    "process.rlimits": rlimits(),
    "process.noNewPrivileges": st.booleans(),
    "process.capabilities": capabilities(),
    "process.oomScoreAdj": st.integers(0, 1000),
    "root.readonly": st.booleans(),
    "mounts+": tmpfs_mounts(),
    "linux.maskedPaths": masked_paths,
    "linux.sysctl": sysctls,
    "linux.seccomp": seccomp_profiles(),
}


def cases(fields: dict = FIELDS) -> st.SearchStrategy:
    """Cases editing any subset of `fields`."""
    return st.builds(Case, st.fixed_dictionaries({}, optional=fields), st.sampled_from(MKDIR_MODES))
