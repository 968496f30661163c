"""The `linux` object of config.json (namespaces, id maps, cgroup resources, sysctls, paths) as frozen records."""

from __future__ import annotations

import types
from collections.abc import Mapping

from .constants import NAMESPACE_CLONE_FLAGS, PERSONALITY_DOMAINS, PERSONALITY_FLAGS
from .errors import SpecError
from .record import field, record
from .spec_json import INT64_MAX, INT64_MIN, UINT32_MAX, JsonObject, as_absolute_path, as_one_of, join, show
from .spec_resources import Resources, parse_resources
from .spec_seccomp import Seccomp, parse_seccomp

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

NAMESPACE_TYPES = tuple(NAMESPACE_CLONE_FLAGS)
ROOTFS_PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
TIME_OFFSET_CLOCKS = ("monotonic", "boottime")
NANOSECONDS_PER_SECOND = 1_000_000_000


@record(frozen=True)
class Namespace:
    """A namespace of the container: a new one, or with `path` the existing one behind that file."""

    type: str
    path: str | None = None


@record(frozen=True)
class IdMapping:
    """`size` consecutive ids from `container_id` inside the user namespace map to `host_id` outside."""

    container_id: int
    host_id: int
    size: int


@record(frozen=True)
class TimeOffset:
    """How far a clock of the time namespace runs ahead of the host's."""

    secs: int = 0
    nanosecs: int = 0


@record(frozen=True)
class Personality:
    """personality(2)'s execution domain (LINUX, LINUX32) and flag names (ADDR_NO_RANDOMIZE...)."""

    domain: str
    flags: tuple[str, ...] = ()


@record(frozen=True)
class Linux:
    """Everything under `linux`; `sysctl` is a read-only mapping."""

    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = ()
    gid_mappings: tuple[IdMapping, ...] = ()
    # clock name ("monotonic" or "boottime") -> offset; read-only.
    time_offsets: Mapping[str, TimeOffset] = field(default_factory=lambda: types.MappingProxyType({}), hash=False)
    resources: Resources | None = None
    cgroups_path: str | None = None
    sysctl: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}), hash=False)
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    seccomp: Seccomp | None = None
    rootfs_propagation: str | None = None
    personality: Personality | None = None
    mount_label: str | None = None

    def namespace(self, namespace_type: str) -> Namespace | None:
        """The entry for `namespace_type`, or None if the container shares the runtime's."""
        return next((entry for entry in self.namespaces if entry.type == namespace_type), None)


def parse_linux(raw: Any, path: str = "linux") -> Linux:
    obj = JsonObject(raw, path, known=(
        "namespaces", "uidMappings", "gidMappings", "timeOffsets", "resources", "cgroupsPath", "sysctl",
        "maskedPaths", "readonlyPaths", "seccomp", "rootfsPropagation", "mountLabel", "personality"),
        # intelRdt needs resctrl support, netDevices moving host interfaces, memoryPolicy set_mempolicy: none is here.
        unsupported=("devices", "netDevices", "intelRdt", "memoryPolicy"))
    return Linux(
        namespaces=_parse_namespaces(obj),
        uid_mappings=parse_id_mappings(obj, "uidMappings"),
        gid_mappings=parse_id_mappings(obj, "gidMappings"),
        time_offsets=_parse_time_offsets(obj.get("timeOffsets"), obj.path_of("timeOffsets"))
        if obj.has("timeOffsets") else types.MappingProxyType({}),
        resources=parse_resources(obj.get("resources"), obj.path_of("resources")) if obj.has("resources") else None,
        cgroups_path=obj.string("cgroupsPath"),
        sysctl=_parse_sysctl(obj),
        masked_paths=obj.absolute_paths("maskedPaths"),
        readonly_paths=obj.absolute_paths("readonlyPaths"),
        seccomp=parse_seccomp(obj.get("seccomp"), obj.path_of("seccomp")) if obj.has("seccomp") else None,
        rootfs_propagation=as_one_of(obj.get("rootfsPropagation"), obj.path_of("rootfsPropagation"),
                                     ROOTFS_PROPAGATIONS, what="propagation")
        if obj.string("rootfsPropagation") else None,
        personality=parse_personality(obj.get("personality"), obj.path_of("personality"))
        if obj.has("personality") else None,
        mount_label=obj.string("mountLabel") or None,
    )


def parse_personality(raw: Any, path: str) -> Personality:
    obj = JsonObject(raw, path, known=("domain", "flags"))
    return Personality(
        domain=as_one_of(obj.get("domain", required=True), obj.path_of("domain"), PERSONALITY_DOMAINS,
                         what="personality domain"),
        # runc ignores every flag with a warning; we apply the ones the kernel knows and refuse the rest.
        flags=tuple(as_one_of(flag, flag_path, PERSONALITY_FLAGS, what="personality flag")
                    for flag, flag_path in obj.items("flags")),
    )


def _parse_namespaces(obj: JsonObject) -> tuple[Namespace, ...]:
    namespaces: list[Namespace] = []
    for raw, path in obj.items("namespaces"):
        entry = JsonObject(raw, path, known=("type", "path"))
        namespace = Namespace(
            type=as_one_of(entry.get("type", required=True), entry.path_of("type"), NAMESPACE_TYPES,
                           what="namespace type"),
            path=as_absolute_path(entry.get("path"), entry.path_of("path")) if entry.string("path") else None,
        )
        if any(earlier.type == namespace.type for earlier in namespaces):
            raise SpecError(entry.path_of("type"), f"namespace {show(namespace.type)} is listed twice")
        namespaces.append(namespace)
    return tuple(namespaces)


def parse_id_mappings(obj: JsonObject, key: str) -> tuple[IdMapping, ...]:
    mappings = []
    for raw, path in obj.items(key):
        entry = JsonObject(raw, path, known=("containerID", "hostID", "size"))
        mapping = IdMapping(
            container_id=entry.integer("containerID", required=True, minimum=0, maximum=UINT32_MAX),
            host_id=entry.integer("hostID", required=True, minimum=0, maximum=UINT32_MAX),
            size=entry.integer("size", required=True, minimum=0, maximum=UINT32_MAX),
        )
        if mapping.size == 0:
            raise SpecError(entry.path_of("size"), "must be greater than 0")
        # The kernel refuses a range that runs past the last 32-bit id (4294967295 itself is invalid).
        if max(mapping.container_id, mapping.host_id) + mapping.size > UINT32_MAX:
            raise SpecError(entry.path_of("size"), f"range of {mapping.size} ids runs past {UINT32_MAX - 1}")
        mappings.append(mapping)
    return tuple(mappings)


def _parse_time_offsets(raw: Any, path: str) -> Mapping[str, TimeOffset]:
    obj = JsonObject(raw, path, known=TIME_OFFSET_CLOCKS)
    offsets = {}
    for clock in TIME_OFFSET_CLOCKS:
        if obj.has(clock):
            entry = JsonObject(obj.get(clock), obj.path_of(clock), known=("secs", "nanosecs"))
            offsets[clock] = TimeOffset(
                secs=entry.integer("secs", 0, minimum=INT64_MIN, maximum=INT64_MAX),
                nanosecs=entry.integer("nanosecs", 0, minimum=0, maximum=NANOSECONDS_PER_SECOND - 1),
            )
    return types.MappingProxyType(offsets)


def _parse_sysctl(obj: JsonObject) -> Mapping[str, str]:
    sysctl = obj.string_map("sysctl")
    for key in sysctl:
        # A key becomes a path under /proc/sys: an empty component ("", "a..b", "/a", "a/../b") could leave it.
        if "" in key.replace("/", ".").split("."):
            raise SpecError(join(obj.path_of("sysctl"), key), f"invalid sysctl name {show(key)}")
    return sysctl

