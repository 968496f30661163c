"""Parse the `hooks` object of config.json (runtime-spec "POSIX-platform Hooks") into frozen records."""

from __future__ import annotations

from .errors import SpecError
from .record import record
from .spec_json import INT32_MAX, JsonObject, as_absolute_path, as_string, as_string_list, show

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

# JSON key -> attribute of Hooks, in the order of the lifecycle (prestart, deprecated, runs before createRuntime).
HOOK_KINDS = (("prestart", "prestart"), ("createRuntime", "create_runtime"), ("createContainer", "create_container"),
              ("startContainer", "start_container"), ("poststart", "poststart"), ("poststop", "poststop"))


@record(frozen=True)
class Hook:
    """One hook: run `path` with argv `args` (None or empty: [path]) and exactly the environment `env`.

    `where` is its JSON path (`hooks.createRuntime[1]`), which every error about it names.
    """

    path: str
    args: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    timeout: int | None = None  # seconds; None: no limit
    where: str = ""

    def argv(self) -> list[str]:
        # As Go's exec.Cmd that runc uses: an empty or absent args runs the program with argv [path].
        return list(self.args) if self.args else [self.path]

    def describe(self) -> str:
        return f"{self.where} ({self.path})"


@record(frozen=True)
class Hooks:
    """Every hook of the config, by lifecycle point; all empty when the config has no `hooks`."""

    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    def any(self) -> bool:
        return any(getattr(self, attribute) for _, attribute in HOOK_KINDS)

    def at_create(self) -> bool:
        """Whether `create` has hooks to run, so the init must stop before pivot_root and ask for them."""
        return bool(self.prestart or self.create_runtime or self.create_container)


def parse_hooks(raw: Any, path: str) -> Hooks:
    """Validate the `hooks` object at `path`; SpecError names the JSON path of the first bad value."""
    obj = JsonObject(raw, path, known=tuple(key for key, _ in HOOK_KINDS))
    return Hooks(**{attribute: tuple(parse_hook(entry, entry_path) for entry, entry_path in obj.items(key))
                    for key, attribute in HOOK_KINDS})


def parse_hook(raw: Any, path: str) -> Hook:
    """One entry {path, args, env, timeout} of a hook list."""
    obj = JsonObject(raw, path, known=("path", "args", "env", "timeout"))
    hook_path = as_absolute_path(obj.get("path", required=True), obj.path_of("path"))
    args = as_string_list(obj.get("args"), obj.path_of("args")) if obj.has("args") else None
    env = []
    for entry, entry_path in obj.items("env"):
        text = as_string(entry, entry_path)
        # The same rule as process.env: "FOO" without "=" is almost always a typo.
        if "=" not in text or text.startswith("="):
            raise SpecError(entry_path, f"expected NAME=VALUE, got {show(text)}")
        env.append(text)
    # "If set, timeout MUST be greater than zero." (config.md); runc's field is a Go int.
    timeout = obj.integer("timeout", minimum=1, maximum=INT32_MAX)
    return Hook(path=hook_path, args=args, env=tuple(env), timeout=timeout, where=path)
