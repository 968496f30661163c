"""The bridged network for runtimes that do not read org.kharness.network (runc, crun), as OCI hooks.

A CNI plugin gets the container's network namespace between create and start; OCI's hooks are the place a
runtime offers for it: `prestart` runs in the runtime's namespaces once the container's exist (runc and crun
both run it, before pivot_root), `poststop` at delete. `with_network_hooks` adds

    prestart:  python -m harness.runtime.network_hook attach --root STATE_ROOT
    poststop:  python -m harness.runtime.network_hook release --root STATE_ROOT

to a config whose annotations ask for a bridge; each reads the OCI state (id, pid, bundle) on stdin, as hooks
do, and calls network.attach or network.release, so runc and crun containers get the very veth pair, addresses
and lease that the bundled runtime makes itself.
"""

from __future__ import annotations

import copy
import json
import os
import sys

from .network_spec import network_config

HOOK_TIMEOUT_SECONDS = 120  # the hook imports pyroute2: seconds under TCG


def with_network_hooks(config: dict, state_root: str) -> dict:
    """A copy of `config` with the attach and release hooks added, when its annotations ask for a bridge."""
    if not network_config(config.get("annotations", {})).bridged:
        return config
    config = copy.deepcopy(config)
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = [f"PYTHONPATH={project}", f"PATH={os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"]
    variable = "KHARNESS_NETWORK_ROOT"
    if os.environ.get(variable):
        env.append(f"{variable}={os.environ[variable]}")
    hooks = config.setdefault("hooks", {})
    for kind, verb in (("prestart", "attach"), ("poststop", "release")):
        hooks.setdefault(kind, []).append({
            "path": sys.executable, "args": [sys.executable, "-m", "harness.runtime.network_hook", verb,
                                             "--root", os.path.abspath(state_root)],
            "env": env, "timeout": HOOK_TIMEOUT_SECONDS})
    return config


def main(argv: list[str]) -> int:
    """attach|release --root STATE_ROOT, with the OCI state on stdin."""
    if len(argv) != 3 or argv[0] not in ("attach", "release") or argv[1] != "--root":
        print("usage: python -m harness.runtime.network_hook attach|release --root STATE_ROOT "
              "(the OCI state on stdin)", file=sys.stderr)
        return 2
    verb, root = argv[0], argv[2]
    state = json.load(sys.stdin)
    from . import network
    if verb == "release":
        network.release(root, state["id"])
        return 0
    config_path = os.path.join(state["bundle"], "config.json")
    with open(config_path, encoding="utf-8") as file:
        annotations = json.load(file).get("annotations", {})
    network.attach(network_config(annotations), root, state["id"], int(state["pid"]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as error:  # noqa: BLE001 - the runtime shows our stderr: one line naming the failure
        print(f"network hook: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
