"""Fixtures of the container tests: a busybox rootfs, bundles of the default config, a cleaned-up state root, a
directory holding a program for the process set-up tests."""

import json
import os
import shutil
import tempfile
import uuid

import pytest

from harness.runtime import api
from harness.runtime.default_spec import default_config
from harness.runtime.rootfs_builder import build_rootfs


@pytest.fixture(scope="module")
def rootfs():
    """One busybox rootfs shared by the module's bundles (the default config mounts it read-only).

    Outside pytest's tmp_path, whose parents are 0700: a user namespace's root, mapped to an unprivileged host
    uid, must be able to reach the rootfs before pivot_root.
    """
    base = tempfile.mkdtemp(prefix="kharness-rootfs-")
    try:
        os.chmod(base, 0o755)
        yield build_rootfs(os.path.join(base, "rootfs"))
    finally:
        shutil.rmtree(base)


@pytest.fixture
def state_root(tmp_path):
    """A private --root for the test's containers; anything left there is force-deleted afterwards."""
    root = str(tmp_path / "state")
    try:
        yield root
    finally:
        for container in api.list_containers(root):
            api.delete(container["id"], force=True, root=root)


@pytest.fixture
def make_bundle(tmp_path, rootfs):
    """make_bundle(args, edit=None) -> a bundle dir whose config is the default one with `args`, then `edit`ed."""
    def make(args: list[str], edit=None) -> str:
        bundle = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"
        bundle.mkdir(mode=0o755)
        config = default_config(args)
        config["root"]["path"] = rootfs
        config["hostname"] = "kharness-test"
        if edit:
            edit(config)
        (bundle / "config.json").write_text(json.dumps(config))
        return str(bundle)
    return make


@pytest.fixture
def program_dir(tmp_path):
    """A directory holding an executable `prog`, to be the PATH of the spec's env."""
    program = tmp_path / "prog"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return tmp_path
