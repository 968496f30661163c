"""Parse and validate an OCI runtime-spec 1.x config.json into frozen records; errors name the JSON path."""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Mapping

from .errors import SpecError
from .record import field, record
from .spec_hooks import Hook, Hooks, parse_hooks
from .spec_json import JsonObject, as_absolute_path, as_string, as_string_list, join, show
from .spec_linux import IdMapping, Linux, Namespace, Personality, TimeOffset, parse_id_mappings, parse_linux
from .spec_process import Capabilities, Process, Rlimit, User, parse_process
# Imported only to be re-exported (see __all__): callers import every spec type from this one module.
from .spec_resources import BlockIo, Cpu, DeviceRule, Memory, Pids, Resources, ThrottleDevice
from .spec_scheduling import CpuAffinity, IoPriority, Scheduler
from .spec_seccomp import Seccomp, SeccompArg, SeccompRule

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BlockIo", "Capabilities", "Cpu", "CpuAffinity", "DeviceRule", "Hook", "Hooks", "IdMapping", "IoPriority",
    "Linux", "Memory", "Mount", "Namespace", "Personality", "Pids", "Process", "Resources", "Rlimit", "Root",
    "Scheduler", "Seccomp", "SeccompArg", "SeccompRule", "Spec", "SpecError", "ThrottleDevice", "TimeOffset",
    "User", "load_spec", "parse_process", "parse_spec",
]

CONFIG_FILE_NAME = "config.json"
# Any 1.x release, with an optional pre-release suffix such as runc's "1.0.2-dev".
_OCI_VERSION = re.compile(r"1\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


@record(frozen=True)
class Root:
    """The container's root filesystem: `path` as written, relative to the bundle unless absolute."""

    path: str
    readonly: bool = False


@record(frozen=True)
class Mount:
    """One mount in the container; `options` mixes mount flags (nosuid) and filesystem data (mode=755).

    `uid_mappings`/`gid_mappings` make a bind mount idmapped (runtime-spec 1.2): both or neither.
    """

    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = ()
    gid_mappings: tuple[IdMapping, ...] = ()


@record(frozen=True)
class Spec:
    """A validated config.json. `annotations` is read-only and never interpreted by the runtime."""

    oci_version: str
    process: Process
    root: Root
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    linux: Linux = field(default_factory=Linux)
    hooks: Hooks = field(default_factory=Hooks)
    annotations: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}), hash=False)


def load_spec(source: Mapping[str, Any] | str | os.PathLike) -> Spec:
    """Parse a config from a dict, a config.json path, or a bundle directory holding config.json.

    Raises SpecError for invalid content (including malformed JSON) and OSError if the file cannot be read.
    """
    if isinstance(source, Mapping):
        return parse_spec(source)
    path = os.fspath(source)
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_FILE_NAME)
    return parse_config_text(read_config_text(path), path)


def read_config_text(path: str) -> str:
    """The text of a config.json, or of the config.json in the bundle directory `path`."""
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_FILE_NAME)
    with open(path, encoding="utf-8") as config_file:
        return config_file.read()


def parse_config_text(text: str, path: str) -> Spec:
    """Decode and validate config.json text read from `path` (named in errors)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError("", f"{path} is not valid JSON: {error.msg} at line {error.lineno} "
                            f"column {error.colno}") from error
    except RecursionError as error:
        # A document nested thousands of levels deep: no config needs that, and the decoder's stack gives out.
        raise SpecError("", f"{path} is nested too deeply to be a config.json") from error
    return parse_spec(raw)


def parse_spec(raw: Any) -> Spec:
    """Validate a decoded config.json; the first problem found raises SpecError."""
    obj = JsonObject(raw, "", known=(
        "ociVersion", "process", "root", "hostname", "domainname", "mounts", "linux", "hooks", "annotations"),
        unsupported=("solaris", "windows", "vm", "zos"))
    oci_version = as_string(obj.get("ociVersion", required=True), "ociVersion")
    if not _OCI_VERSION.fullmatch(oci_version):
        raise SpecError("ociVersion", f"expected a 1.x version such as \"1.0.2\", got {show(oci_version)}")
    spec = Spec(
        oci_version=oci_version,
        process=parse_process(obj.get("process", required=True), "process"),
        root=_parse_root(obj.get("root", required=True), "root"),
        hostname=obj.string("hostname"),
        domainname=obj.string("domainname"),
        mounts=tuple(_parse_mount(mount, mount_path) for mount, mount_path in obj.items("mounts")),
        linux=parse_linux(obj.get("linux"), "linux") if obj.has("linux") else Linux(),
        hooks=parse_hooks(obj.get("hooks"), "hooks") if obj.has("hooks") else Hooks(),
        annotations=obj.string_map("annotations"),
    )
    _check_namespaces_cover(spec)
    return spec


def _parse_root(raw: Any, path: str) -> Root:
    obj = JsonObject(raw, path, known=("path", "readonly"))
    return Root(path=obj.string("path", required=True, non_empty=True), readonly=obj.boolean("readonly"))


def _parse_mount(raw: Any, path: str) -> Mount:
    obj = JsonObject(raw, path, known=("destination", "type", "source", "options", "uidMappings", "gidMappings"))
    options = as_string_list(obj.get("options"), obj.path_of("options")) if obj.has("options") else ()
    mount = Mount(
        destination=as_absolute_path(obj.get("destination", required=True), obj.path_of("destination")),
        type=obj.string("type"),
        source=obj.string("source"),
        options=options,
        uid_mappings=parse_id_mappings(obj, "uidMappings"),
        gid_mappings=parse_id_mappings(obj, "gidMappings"),
    )
    if obj.has("uidMappings") or obj.has("gidMappings"):
        _check_idmapped(mount, obj)
    return mount


def _check_idmapped(mount: Mount, obj: JsonObject) -> None:
    """As runc 1.2: mappings only on a bind mount, and uid and gid mappings together, neither empty."""
    key = "uidMappings" if obj.has("uidMappings") else "gidMappings"
    if not (mount.type == "bind" or "bind" in mount.options or "rbind" in mount.options):
        raise SpecError(obj.path_of(key), f"idmapped mounts need a bind mount (type \"bind\" or option bind/rbind), "
                                          f"not type {show(mount.type)} at {mount.destination}")
    for key, mappings in (("uidMappings", mount.uid_mappings), ("gidMappings", mount.gid_mappings)):
        if not mappings:
            raise SpecError(obj.path_of(key), "an idmapped mount needs both uidMappings and gidMappings, non-empty")


def _check_namespaces_cover(spec: Spec) -> None:
    """Refuse settings that only make sense in a namespace the container does not get (runc refuses them too)."""
    linux = spec.linux
    needs = [
        ("hostname", spec.hostname, "uts"),
        ("domainname", spec.domainname, "uts"),
        (join("linux", "uidMappings"), linux.uid_mappings, "user"),
        (join("linux", "gidMappings"), linux.gid_mappings, "user"),
        (join("linux", "timeOffsets"), linux.time_offsets, "time"),
    ]
    for path, value, namespace_type in needs:
        if value and linux.namespace(namespace_type) is None:
            raise SpecError(path, f"needs a {namespace_type} namespace in linux.namespaces")
    user = linux.namespace("user")
    for index, mount in enumerate(spec.mounts):
        if mount.uid_mappings and user is not None:
            raise SpecError(f"mounts[{index}].uidMappings", "idmapped mounts in a container with its own user "
                                                            "namespace are not implemented by this runtime")
    if user is not None and user.path is None and not (linux.uid_mappings and linux.gid_mappings):
        missing = "uidMappings" if not linux.uid_mappings else "gidMappings"
        raise SpecError(join("linux", missing), "a new user namespace needs uid and gid mappings")
