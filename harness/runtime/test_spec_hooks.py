"""Tests of the parsing of config.json's `hooks`: valid lists become Hook records, each bad field is named by path."""

import pytest

from harness.runtime.errors import SpecError
from harness.runtime.spec import Hook, Hooks, parse_spec
from harness.runtime.spec_hooks import parse_hooks
from harness.runtime.test_spec import runc_config


def test_every_hook_kind_parses_in_order():
    """All six lists parse, each entry keeping path, args, env, timeout and its own JSON path."""
    raw = {
        "prestart": [{"path": "/bin/a"}],
        "createRuntime": [{"path": "/bin/b", "args": ["b", "-x"], "env": ["K=V", "E="], "timeout": 3},
                          {"path": "/bin/c"}],
        "createContainer": [{"path": "/bin/d"}],
        "startContainer": [{"path": "/bin/e"}],
        "poststart": [{"path": "/bin/f"}],
        "poststop": [{"path": "/bin/g", "args": []}],
    }
    hooks = parse_hooks(raw, "hooks")
    assert hooks.create_runtime == (
        Hook(path="/bin/b", args=("b", "-x"), env=("K=V", "E="), timeout=3, where="hooks.createRuntime[0]"),
        Hook(path="/bin/c", where="hooks.createRuntime[1]"))
    assert [h.path for h in (hooks.prestart + hooks.create_container + hooks.start_container + hooks.poststart
                             + hooks.poststop)] == ["/bin/a", "/bin/d", "/bin/e", "/bin/f", "/bin/g"]
    assert hooks.at_create() and hooks.any()


def test_argv_defaults_to_the_path():
    """Without args (or with an empty list, as Go's exec.Cmd runs it) argv is [path]; otherwise args, argv0 first."""
    assert Hook(path="/bin/x").argv() == ["/bin/x"]
    assert Hook(path="/bin/x", args=()).argv() == ["/bin/x"]
    assert Hook(path="/bin/x", args=("name", "1")).argv() == ["name", "1"]


def test_spec_without_hooks_has_empty_hooks():
    """A config without `hooks` (or with null) gives an empty Hooks: nothing to run, no extra handshake."""
    assert parse_spec(runc_config()).hooks == Hooks()
    config = runc_config()
    config["hooks"] = None
    assert not parse_spec(config).hooks.any()


def test_spec_with_hooks_keeps_them():
    """`hooks` is parsed as part of the spec (it used to be refused as unsupported)."""
    config = runc_config()
    config["hooks"] = {"poststop": [{"path": "/usr/bin/cleanup"}]}
    spec = parse_spec(config)
    assert spec.hooks.poststop == (Hook(path="/usr/bin/cleanup", where="hooks.poststop[0]"),)
    assert not spec.hooks.at_create()


@pytest.mark.parametrize("raw, path, fragment", [
    ({"prestop": []}, "hooks.prestop", "unknown field"),
    ([], "hooks", "expected object"),
    ({"prestart": {}}, "hooks.prestart", "expected array"),
    ({"prestart": ["/bin/x"]}, "hooks.prestart[0]", "expected object"),
    ({"createRuntime": [{"args": ["x"]}]}, "hooks.createRuntime[0].path", "required field is missing"),
    ({"createRuntime": [{"path": "bin/x"}]}, "hooks.createRuntime[0].path", "must be an absolute path"),
    ({"createRuntime": [{"path": 1}]}, "hooks.createRuntime[0].path", "expected string"),
    ({"poststart": [{"path": "/x", "args": "x"}]}, "hooks.poststart[0].args", "expected array"),
    ({"poststart": [{"path": "/x", "args": ["x", 2]}]}, "hooks.poststart[0].args[1]", "expected string"),
    ({"poststop": [{"path": "/x", "env": ["A=1", "B"]}]}, "hooks.poststop[0].env[1]", "expected NAME=VALUE"),
    ({"poststop": [{"path": "/x", "env": ["=1"]}]}, "hooks.poststop[0].env[0]", "expected NAME=VALUE"),
    ({"startContainer": [{"path": "/x", "timeout": 0}]}, "hooks.startContainer[0].timeout", "out of range [1,"),
    ({"startContainer": [{"path": "/x", "timeout": -5}]}, "hooks.startContainer[0].timeout", "out of range"),
    ({"startContainer": [{"path": "/x", "timeout": 1.5}]}, "hooks.startContainer[0].timeout", "expected integer"),
    ({"startContainer": [{"path": "/x", "timeout": "3"}]}, "hooks.startContainer[0].timeout", "expected integer"),
    ({"createContainer": [{"path": "/x"}, {"path": "/y", "timeut": 1}]}, "hooks.createContainer[1].timeut",
     'did you mean "timeout"'),
], ids=lambda value: None if not isinstance(value, str) else value.replace(" ", "-"))
def test_malformed_hooks_name_the_json_path(raw, path, fragment):
    """Each malformed field raises SpecError whose path is the offending value's JSON path, through parse_spec."""
    config = runc_config()
    config["hooks"] = raw
    with pytest.raises(SpecError) as caught:
        parse_spec(config)
    assert caught.value.path == path
    assert fragment in str(caught.value)
