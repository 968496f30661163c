"""Tests of the CLI's verbs that need no root (spec, state, list, errors) and of the busybox bundle builder."""

import json
import os

import pytest

from harness.runtime.cli import main
from harness.runtime.errors import ContainerError
from harness.runtime.rootfs_builder import build_bundle, build_rootfs, busybox_path
from harness.runtime.spec import load_spec

needs_busybox = pytest.mark.skipif(not os.path.isfile(busybox_path()), reason=f"no busybox at {busybox_path()}")


def test_spec_writes_runcs_default_without_a_terminal(tmp_path):
    """`spec` writes a config.json that loads, runs `sh`, has no terminal, and keeps runc's namespaces."""
    assert main(["spec", "--bundle", str(tmp_path)]) == 0
    spec = load_spec(str(tmp_path))
    assert spec.process.args == ("sh",) and spec.process.terminal is False
    assert [namespace.type for namespace in spec.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert spec.root.path == "rootfs" and spec.root.readonly


def test_spec_refuses_to_overwrite(tmp_path, capsys):
    """A second `spec` in the same bundle fails with `error:` naming config.json, and keeps the first file."""
    main(["spec", "--bundle", str(tmp_path)])
    before = (tmp_path / "config.json").read_text()
    assert main(["spec", "--bundle", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path}/config.json already exists; remove it first\n"
    assert (tmp_path / "config.json").read_text() == before


def test_unknown_container_is_an_error_line_not_a_traceback(tmp_path, capsys):
    """`state` of an unknown id exits 1 with one `error:` line naming the id."""
    assert main(["--root", str(tmp_path), "state", "ghost"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: container 'ghost' does not exist") and "Traceback" not in err


def test_invalid_config_names_its_json_path(tmp_path, capsys):
    """`create` on a config with a bad field exits 1 naming the field's JSON path."""
    main(["spec", "--bundle", str(tmp_path)])
    config = json.loads((tmp_path / "config.json").read_text())
    config["process"]["rlimits"][0]["type"] = "RLIMIT_NOPE"
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert main(["--root", str(tmp_path / "state"), "create", "--bundle", str(tmp_path), "c1"]) == 1
    assert capsys.readouterr().err.startswith("error: process.rlimits[0].type: ")


def test_missing_bundle_names_the_directory(tmp_path, capsys):
    """`run` with a bundle that does not exist names it."""
    assert main(["--root", str(tmp_path), "run", "--bundle", str(tmp_path / "nope"), "c1"]) == 1
    assert capsys.readouterr().err == f"error: bundle {tmp_path}/nope is not a directory\n"


def test_list_of_an_empty_root_prints_the_header_only(tmp_path, capsys):
    """`list` with no containers prints runc's header; `list --format json` prints []."""
    assert main(["--root", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    main(["--root", str(tmp_path), "list", "--format", "json"])
    assert json.loads(capsys.readouterr().out) == []


@needs_busybox
def test_rootfs_has_busybox_applets_and_users(tmp_path):
    """The rootfs holds bin/busybox, an applet link per `busybox --list-full` entry, passwd and the mount points."""
    rootfs = build_rootfs(str(tmp_path / "rootfs"))
    assert os.path.isfile(f"{rootfs}/bin/busybox") and os.readlink(f"{rootfs}/bin/sh") == "/bin/busybox"
    assert open(f"{rootfs}/etc/passwd").read().startswith("root:x:0:0:")
    assert all(os.path.isdir(f"{rootfs}/{name}") for name in ("proc", "sys", "dev", "tmp"))


@needs_busybox
def test_bundle_has_rootfs_and_a_config_with_the_given_args(tmp_path):
    """build_bundle writes rootfs/ and a config.json running the given args."""
    bundle = build_bundle(str(tmp_path / "bundle"), ["/bin/true"])
    assert load_spec(bundle).process.args == ("/bin/true",)
    assert os.path.isdir(f"{bundle}/rootfs/bin") and os.stat(bundle).st_mode & 0o777 == 0o755


def test_missing_busybox_is_a_clear_error(tmp_path):
    """A busybox path that does not exist is reported with the variable that overrides it."""
    with pytest.raises(ContainerError, match=r"busybox not found at /nonexistent/busybox \(set \$KHARNESS_BUSYBOX"):
        build_rootfs(str(tmp_path / "rootfs"), busybox="/nonexistent/busybox")
