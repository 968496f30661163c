"""The suites' runtime adapters: choosing a runtime, and the sabotage wrapper that proves tests can fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import containers


class Recorder(containers.Runtime):
    """A fake runtime that records the config each bundle had when it was run."""

    name = "recorder"

    def __init__(self, state_root: Path):
        super().__init__(state_root)
        self.configs: list[dict] = []

    def run(self, bundle, cid, timeout=containers.RUN_TIMEOUT, pass_fds=()):
        self.configs.append(json.loads((bundle / "config.json").read_text()))
        return containers.Result(0, "", "")


def bundle_with(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


CONFIG = {"hostname": "h", "linux": {"namespaces": [{"type": "ipc"}, {"type": "uts"}, {"type": "pid"}],
                                     "resources": {"memory": {"limit": 1}, "pids": {"limit": 8}}}}


def test_sabotage_drops_one_namespace_type(tmp_path):
    """namespace:ipc removes exactly the ipc entry before the inner runtime sees the bundle."""
    inner = Recorder(tmp_path)
    containers.SabotagedRuntime(inner, "namespace:ipc").run(bundle_with(tmp_path, CONFIG), "c")
    assert [n["type"] for n in inner.configs[0]["linux"]["namespaces"]] == ["uts", "pid"]


def test_sabotage_of_uts_also_drops_the_hostname(tmp_path):
    """Without a uts namespace a hostname is invalid, so namespace:uts drops it too (the run still starts)."""
    inner = Recorder(tmp_path)
    containers.SabotagedRuntime(inner, "namespace:uts").run(bundle_with(tmp_path, CONFIG), "c")
    assert "hostname" not in inner.configs[0]


def test_sabotage_drops_one_resource(tmp_path):
    """resource:memory removes the memory limit and keeps the others."""
    inner = Recorder(tmp_path)
    containers.SabotagedRuntime(inner, "resource:memory").run(bundle_with(tmp_path, CONFIG), "c")
    assert inner.configs[0]["linux"]["resources"] == {"pids": {"limit": 8}}


def test_bad_sabotage_is_refused(tmp_path):
    """An unknown sabotage form is an error naming the expected forms."""
    with pytest.raises(ValueError, match="namespace:<type> or resource:<name>"):
        containers.SabotagedRuntime(Recorder(tmp_path), "memory")


def test_unknown_runtime_names_the_fix(tmp_path):
    """--runtime with a binary that is not installed says how to get it."""
    with pytest.raises(containers.RuntimeNotFound, match="is not on PATH.*apt-get install no-such-runtime"):
        containers.make_runtime("no-such-runtime", tmp_path)
    with pytest.raises(containers.RuntimeNotFound, match="/no/crun: is not an executable file"):
        containers.make_runtime("/no/crun", tmp_path)


def test_a_runtime_asked_for_but_missing_is_a_usage_error(tmp_path):
    """pytest --runtime nosuch stops at configuration (exit 4, naming the fix) instead of skipping every
    container test; the built-in runtimes need nothing installed."""
    import subprocess
    import sys
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    env = dict(os.environ, PYTHONPATH=str(Path(containers.__file__).resolve().parents[1]))
    env.pop("KHARNESS_RUNTIME", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "pytest", "-p", "harness.plugin", "-p", "no:cacheprovider",  # noqa: E731
                                     "-q", *a, str(tmp_path / "test_x.py")],
                                    capture_output=True, text=True, cwd=tmp_path, env=env)
    refused = run("--runtime", "nosuch")
    assert refused.returncode == 4 and "--runtime nosuch: is not on PATH" in refused.stderr
    assert run("--runtime", "bundled-cli").returncode == 0


def test_runtime_lists_and_all_are_parsed_in_order_once_each():
    """--runtime takes one name, a comma-separated list (order kept, repeats dropped) or all; unset is None."""
    from harness.plugin import ALL_RUNTIMES, parse_runtimes
    assert parse_runtimes(None) is None and parse_runtimes("") is None
    assert parse_runtimes("crun") == ["crun"]
    assert parse_runtimes("crun, bundled,crun") == ["crun", "bundled"]
    assert parse_runtimes("all") == list(ALL_RUNTIMES) == ["bundled", "bundled-cli", "runc", "crun"]
