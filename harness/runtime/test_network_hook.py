"""The network hooks the harness gives runc and crun: added only for a bridged config, calling this module."""

from __future__ import annotations

import io
import sys

from harness.runtime.default_spec import default_config
from harness.runtime.network_hook import main, with_network_hooks
from harness.runtime.network_spec import ANNOTATION


def test_a_config_without_a_bridge_is_returned_unchanged():
    """No org.kharness.network (or `none`): the very same config, no hooks added."""
    config = default_config(["true"])
    assert with_network_hooks(config, "/run/runc") is config
    config["annotations"] = {ANNOTATION: "none"}
    assert with_network_hooks(config, "/run/runc") is config


def test_a_bridged_config_gets_attach_at_prestart_and_release_at_poststop(tmp_path):
    """prestart runs `network_hook attach --root ROOT` and poststop `release --root ROOT`, with this interpreter,
    after any hooks the config had; the caller's config is not modified."""
    config = default_config(["true"])
    config["annotations"] = {ANNOTATION: "bridge:kh0"}
    config["hooks"] = {"prestart": [{"path": "/bin/true"}]}
    hooked = with_network_hooks(config, str(tmp_path))
    assert config["hooks"] == {"prestart": [{"path": "/bin/true"}]}
    prestart, poststop = hooked["hooks"]["prestart"], hooked["hooks"]["poststop"]
    assert prestart[0] == {"path": "/bin/true"}
    for hook, verb in ((prestart[1], "attach"), (poststop[0], "release")):
        assert hook["path"] == sys.executable
        assert hook["args"][1:] == ["-m", "harness.runtime.network_hook", verb, "--root", str(tmp_path)]
        assert any(entry.startswith("PYTHONPATH=") for entry in hook["env"])


def test_the_hook_refuses_a_wrong_command_line(monkeypatch, capsys):
    """Anything but attach|release --root DIR is a usage error (exit 2) before stdin is read."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("not json"))
    assert main(["join", "--root", "/x"]) == 2
    assert main(["attach"]) == 2
    assert "usage: python -m harness.runtime.network_hook" in capsys.readouterr().err
