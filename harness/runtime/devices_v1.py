"""linux.resources.devices where cgroup v2 is not alone: the rules written to the cgroup v1 devices controller."""

from __future__ import annotations

import os
import re

from .cgroup_config import cgroup_path
from .cgroup_manager import remove_cgroup_tree
from .cgroups import MOUNTINFO, unified_root
from .devicefilter import effective_rules
from .errors import ContainerError, SpecError
from .fileio import write_once
from .spec_json import INT32_MAX
from .spec_resources import DeviceRule, Resources

DEVICES_PATH = "linux.resources.devices"
ALL_LETTERS = frozenset("rwm")
# How long remove() retries an rmdir refused with EBUSY: the tasks of a killed container leave within moments.
REMOVE_DEADLINE_SECONDS = 5.0
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def devices_v1_mount(mountinfo: str = MOUNTINFO) -> str | None:
    """Where a cgroup v1 hierarchy with the devices controller is mounted (/sys/fs/cgroup/devices), if anywhere."""
    try:
        with open(mountinfo, encoding="utf-8") as lines:
            for line in lines:
                fields = line.split()
                separator = fields.index("-")  # optional fields come before it, a variable number of them
                filesystem, super_options = fields[separator + 1], fields[separator + 3]
                if filesystem == "cgroup" and "devices" in super_options.split(","):
                    return _unescape(fields[4])
    except FileNotFoundError:
        return None
    return None


def needs_v1_devices(resources: Resources | None, mountinfo: str = MOUNTINFO) -> bool:
    """Whether the spec's device rules must go to the v1 devices controller: it has some, and the host does not run
    cgroup v2 alone (where they become an eBPF program instead, see devicefilter)."""
    return bool(resources is not None and resources.devices) and unified_root(mountinfo) is None


def v1_rules(rules: tuple[DeviceRule, ...], path: str = DEVICES_PATH) -> list[tuple[str, str]]:
    """The (file, line) writes that make a new v1 devices cgroup decide as devicefilter.rules_allow(rules) does.

    `rules` is the effective list (devicefilter.effective_rules: the spec's rules, then runc's defaults), so
    `path`[i] names the spec's rule i. cgroup v1 can hold "deny all, then allow these exceptions" (or "allow all"),
    while OCI rules are evaluated last-match-wins, so:
    - rules before the last one matching every request (type a, any major and minor, rwm) never decide: dropped;
      that rule is the base, deny-all (or none: nothing matching is denied) or allow-all (the single line "a");
    - a deny rule is a no-op unless it overlaps an allow rule before it; if it does, v1 cannot express it (nor any
      deny after an allow-all) and the list is refused rather than enforced differently;
    - a type "a" rule that is not the base becomes a "b" and a "c" line ("a" written to a devices file means all);
    - the kernel merges the accesses of lines with the same type, major and minor: lines granting "r" and "w"
      separately would together allow a read-write open that no rule allows, so such a list is refused too.
    Raises SpecError naming `path`[i].
    """
    for index, rule in enumerate(rules):
        for name, value in (("major", rule.major), ("minor", rule.minor)):
            if value is not None and value > INT32_MAX:  # the limit compile_rules has: both backends accept alike
                raise SpecError(f"{path}[{index}].{name}", f"{value} is above {INT32_MAX}")
    base = max((index for index, rule in enumerate(rules) if _matches_everything(rule)), default=0)
    allows: list[int] = []
    for index in range(base, len(rules)):
        if rules[index].allow:
            allows.append(index)
            continue
        for earlier in allows:
            if _overlap(rules[earlier], rules[index]):
                raise SpecError(f"{path}[{index}]", _deny_after_allow(rules, earlier, index, path))
    if rules and _matches_everything(rules[base]) and rules[base].allow:
        return [("devices.allow", "a")]
    _check_merged_accesses(rules, allows, path)
    writes = [("devices.deny", "a")]
    for index in allows:
        writes += [("devices.allow", line) for line in _lines(rules[index])]
    return writes


def v1_line(rule: DeviceRule, device_type: str | None = None) -> str:
    """The devices.allow syntax of `rule`: "c 1:3 rwm", "*" for any major or minor; `device_type` overrides "a"."""
    major = "*" if rule.major is None else rule.major
    minor = "*" if rule.minor is None else rule.minor
    access = "".join(letter for letter in "rwm" if letter in rule.access)
    return f"{device_type or rule.type} {major}:{minor} {access}"


class DevicesV1Cgroup:
    """A container's directory in the v1 devices hierarchy: its rules written, its init moved in by add_process."""

    def __init__(self, path: str) -> None:
        self.path = path  # the absolute directory, e.g. /sys/fs/cgroup/devices/kharness/<id>

    def __repr__(self) -> str:
        return f"DevicesV1Cgroup({self.path!r})"

    @classmethod
    def create(cls, rules: tuple[DeviceRule, ...], cgroups_path: str | None, container_id: str,
               mountinfo: str = MOUNTINFO) -> DevicesV1Cgroup:
        """Make the container's devices cgroup and write its rules: `rules` are the spec's (linux.resources.devices;
        runc's defaults are appended here), `cgroups_path` is linux.cgroupsPath, placed as the v2 cgroup would be
        (cgroup_config.cgroup_path). A failure leaves no directory behind (but one holding processes is not ours:
        it is refused and left alone)."""
        writes = v1_rules(effective_rules(rules))  # before anything exists: a SpecError leaves nothing behind
        mount_point = devices_v1_mount(mountinfo)
        if mount_point is None:
            raise ContainerError(f"{DEVICES_PATH}: no cgroup v1 hierarchy with the devices controller is mounted "
                                 f"(see {mountinfo}), so the device rules cannot be enforced")
        devices = cls(os.path.join(mount_point, cgroup_path(cgroups_path, container_id).lstrip("/")))
        devices._make()
        try:
            for file, line in writes:
                devices._write(file, line)
        except BaseException:  # KeyboardInterrupt too: a cgroup with half its rules must not stay
            devices.remove()
            raise
        return devices

    def add_process(self, pid: int) -> None:
        """Move `pid` (and its threads) into the cgroup: from then on the rules decide its device accesses."""
        self._write("cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        """The pids in the cgroup and every cgroup below it."""
        pids = []
        for directory, _, _ in os.walk(self.path):
            try:
                with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as procs:
                    pids += [int(line) for line in procs.read().split()]
            except FileNotFoundError:
                continue  # removed while we walked
        return sorted(pids)

    def remove(self, deadline: float = REMOVE_DEADLINE_SECONDS) -> None:
        """rmdir the cgroup and any below it, deepest first; gone already is fine. EBUSY (tasks still in it) is
        retried for `deadline` seconds while a killed container's processes exit, then an error naming them."""
        remove_cgroup_tree(self.path, deadline, "devices cgroup",
                           lambda: f" (processes {self.procs()} are still in it)")

    def _make(self) -> None:
        """mkdir the directory and its missing parents; an existing one is reused only if no process is in it."""
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o755, exist_ok=True)
            os.mkdir(self.path, 0o755)
        except FileExistsError:
            if not os.path.isdir(self.path):  # ids like "cgroup.procs" name the parent's interface files
                raise ContainerError(f"cannot create the devices cgroup {self.path}: the parent has a file of that "
                                     f"name (a cgroup interface file); choose another container id or "
                                     f"linux.cgroupsPath") from None
            occupants = self.procs()
            if occupants:
                raise ContainerError(f"the devices cgroup {self.path} already holds processes {occupants}") \
                    from None
        except OSError as error:
            raise ContainerError(f"cannot create the devices cgroup {self.path}: {error.strerror}") from error

    def _write(self, file: str, line: str) -> None:
        target = os.path.join(self.path, file)
        try:
            write_once(target, line)  # one rule per write(2): the kernel parses each write as one line
        except OSError as error:
            raise ContainerError(f"{DEVICES_PATH}: writing {line!r} to {target} failed: {error.strerror}") \
                from error


def devices_v1_for(resources: Resources | None, cgroups_path: str | None, container_id: str,
                   mountinfo: str = MOUNTINFO) -> DevicesV1Cgroup | None:
    """`create`'s half: the container's v1 devices cgroup with its rules written, where this host needs one."""
    if not needs_v1_devices(resources, mountinfo):
        return None
    return DevicesV1Cgroup.create(resources.devices, cgroups_path, container_id, mountinfo)


def planned_v1_devices_path(resources: Resources | None, cgroups_path: str | None, container_id: str,
                            mountinfo: str = MOUNTINFO) -> str | None:
    """Where devices_v1_for puts the container's devices cgroup (None: nowhere), for a `delete` after a create
    that died before recording it."""
    mount_point = devices_v1_mount(mountinfo) if needs_v1_devices(resources, mountinfo) else None
    return os.path.join(mount_point, cgroup_path(cgroups_path, container_id).lstrip("/")) if mount_point else None


def remove_v1_devices(path: str | None) -> None:
    """`delete`'s half: remove the devices cgroup a container record names (None: it has none)."""
    if path:
        DevicesV1Cgroup(path).remove()


def _matches_everything(rule: DeviceRule) -> bool:
    """Whether `rule` decides every request: any type, major and minor, and all of r, w and m."""
    return rule.type == "a" and rule.major is None and rule.minor is None and set(rule.access) == ALL_LETTERS


def _overlap(allow: DeviceRule, deny: DeviceRule) -> bool:
    """Whether some request matches both: a device both name, and an access letter both hold (each single letter
    is a request the kernel makes, and a deny rule matches a request holding any of its letters)."""
    return (allow.type == "a" or deny.type == "a" or allow.type == deny.type) \
        and (allow.major is None or deny.major is None or allow.major == deny.major) \
        and (allow.minor is None or deny.minor is None or allow.minor == deny.minor) \
        and bool(set(allow.access) & set(deny.access))


def _deny_after_allow(rules: tuple[DeviceRule, ...], allow: int, deny: int, path: str) -> str:
    what = "the allow-all rule" if _matches_everything(rules[allow]) else f"{v1_line(rules[allow])}"
    return (f"this deny rule ({v1_line(rules[deny])}) takes back access that {path}[{allow}] ({what}) grants; "
            "cgroup v1, which enforces the rules on this host, starts from deny-all and can only add allowed "
            "devices, so a deny after an allow it overlaps cannot be expressed: put the deny rules first")


def _lines(rule: DeviceRule) -> list[str]:
    return [v1_line(rule, device_type) for device_type in (("b", "c") if rule.type == "a" else (rule.type,))]


def _check_merged_accesses(rules: tuple[DeviceRule, ...], allows: list[int], path: str) -> None:
    """Refuse lines that the kernel would merge into a read-write grant no single rule gives (see v1_rules)."""
    by_device: dict[tuple[str, int | None, int | None], list[int]] = {}
    for index in allows:
        rule = rules[index]
        for device_type in ("b", "c") if rule.type == "a" else (rule.type,):
            by_device.setdefault((device_type, rule.major, rule.minor), []).append(index)
    for indices in by_device.values():
        if any({"r", "w"} <= set(rules[index].access) for index in indices):
            continue
        readers = [index for index in indices if "r" in rules[index].access]
        writers = [index for index in indices if "w" in rules[index].access]
        if readers and writers:
            first, second = sorted((readers[0], writers[0]))
            raise SpecError(f"{path}[{second}]", f"allows {v1_line(rules[second])} while {path}[{first}] allows "
                                                 f"{v1_line(rules[first])}: cgroup v1, which enforces the rules on "
                                                 "this host, merges the two and would allow a read-write open that "
                                                 "neither rule allows; give one rule both accesses")


def _unescape(field: str) -> str:
    """A mountinfo path with its octal escapes (\\040 for a space, \\134 for a backslash...) decoded."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)
