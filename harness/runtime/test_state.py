"""Tests of state directories, status, pid listing and the library API's checks that need no root."""

import calendar
import json
import os
import re
import signal
import subprocess
import time

import pytest

from harness.runtime import api
from harness.runtime.errors import ContainerError, SpecError
from harness.runtime.spec import load_spec
from harness.runtime.state import EXEC_FIFO, ContainerRecord, StateDir, container_pids, process_start_time, \
    utc_now_rfc3339
from harness.runtime.test_spec import edited


@pytest.fixture
def states(tmp_path):
    """A StateDir under a scratch root."""
    return StateDir(str(tmp_path / "state"))


def record_of_this_process(container_id: str = "c1", **overrides) -> ContainerRecord:
    """A record whose init is the test process itself (alive, with its real start time)."""
    fields = dict(id=container_id, pid=os.getpid(), bundle="/b", rootfs="/b/rootfs", oci_version="1.0.2",
                  start_time=process_start_time(os.getpid())[0], annotations={"a": "b"})
    return ContainerRecord(**(fields | overrides))


def test_reserve_makes_the_directory_and_fifo_once(states):
    """reserve creates <root>/<id>/exec.fifo; reserving the same id again is an error naming it."""
    directory = states.reserve("c1")
    assert os.path.isdir(directory) and os.path.exists(os.path.join(directory, EXEC_FIFO))
    with pytest.raises(ContainerError, match="container 'c1' already exists"):
        states.reserve("c1")


@pytest.mark.parametrize("bad_id", ["", ".", "..", "a/b", "a b"])
def test_ids_that_are_not_plain_names_are_refused(states, bad_id):
    """Ids become directory names: empty, dot names, slashes and spaces are refused."""
    with pytest.raises(ContainerError, match="invalid container id"):
        states.path(bad_id)


def test_saved_state_loads_back_and_lists(states):
    """A saved record loads back equal, and the id is listed."""
    states.reserve("c1")
    record = record_of_this_process()
    states.save(record)
    assert states.load("c1") == record
    assert states.ids() == ["c1"]
    assert json.loads(open(os.path.join(states.path("c1"), "state.json")).read())["pid"] == os.getpid()


def test_unknown_and_half_created_containers_are_told_apart(states):
    """No directory: "does not exist"; a directory without state.json: "still being created"."""
    with pytest.raises(ContainerError, match="'nope' does not exist"):
        states.load("nope")
    states.reserve("half")
    with pytest.raises(ContainerError, match="'half' is still being created"):
        states.load("half")


def test_status_follows_the_fifo_and_the_process(states):
    """Alive with the exec FIFO: created; alive without it: running; a different start time: stopped."""
    states.reserve("c1")
    record = record_of_this_process()
    assert states.status(record) == "created"
    os.unlink(states.exec_fifo("c1"))
    assert states.status(record) == "running"
    assert states.status(record_of_this_process(start_time=record.start_time + 1)) == "stopped"


def test_oci_state_has_the_spec_fields_and_no_pid_when_stopped(states):
    """The state document carries ociVersion, id, status, pid, bundle and annotations; stopped means pid 0."""
    states.reserve("c1")
    document = states.oci_state(record_of_this_process())
    assert {key: document[key] for key in ("ociVersion", "id", "status", "pid", "bundle", "annotations")} == {
        "ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": os.getpid(), "bundle": "/b",
        "annotations": {"a": "b"}}
    assert states.oci_state(record_of_this_process(start_time=1))["pid"] == 0


def test_pids_without_a_pid_namespace_are_the_init_and_its_descendants():
    """Without its own pid namespace a container's processes are its init and everything below it."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        pids = container_pids(record_of_this_process(own_pid_namespace=False))
        assert os.getpid() in pids and child.pid in pids and os.getppid() not in pids
    finally:
        child.kill()
        child.wait()


def test_pids_with_a_pid_namespace_share_the_init_namespace():
    """With its own pid namespace, a container's processes are those whose /proc/PID/ns/pid matches the init's."""
    assert os.getpid() in container_pids(record_of_this_process())


def test_locking_an_unknown_container_is_an_error(states):
    """start/kill/delete lock the container first: an unknown id fails there, naming it."""
    with pytest.raises(ContainerError, match="'ghost' does not exist"):
        with states.locked("ghost"):
            pass


@pytest.mark.parametrize("given, number", [(9, 9), ("9", 9), ("KILL", 9), ("sigterm", 15), ("SIGUSR1", 10)])
def test_signals_parse_from_numbers_and_names(given, number):
    """kill takes a number, or a name with or without SIG, in any case."""
    assert api.parse_signal(given) == number


def test_unknown_signal_name_is_an_error():
    """An unknown signal name is a ContainerError naming it."""
    with pytest.raises(ContainerError, match="unknown signal 'BOGUS'"):
        api.parse_signal("BOGUS")


@pytest.mark.parametrize("changes, path", [
    ({"process.terminal": False, "process.apparmorProfile": "docker-default"}, "process.apparmorProfile"),
])
def test_unsupported_features_are_refused_by_json_path(changes, path):
    """An AppArmor profile is refused up front, naming the JSON path, not silently dropped."""
    with pytest.raises(SpecError, match=path.replace(".", r"\.")):
        api.check_supported(load_spec(edited(changes)))


def test_terminal_needs_a_console_socket():
    """process.terminal (runc's default spec has it) without a console socket is refused naming the field."""
    with pytest.raises(SpecError, match=r"process\.terminal: true, but no console socket"):
        api.check_console(load_spec(edited({})), None)
    api.check_console(load_spec(edited({})), "/run/console.sock")


def test_seccomp_is_supported():
    """A linux.seccomp filter passes the up-front check (it is compiled, and loaded, by the container's set-up)."""
    api.check_supported(load_spec(edited({"process.terminal": False,
                                          "linux.seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}})))


def test_create_with_a_missing_rootfs_leaves_no_state(tmp_path):
    """A bundle whose rootfs is missing fails with root.path named, and no state directory is left."""
    (tmp_path / "config.json").write_text(json.dumps(edited({"process.terminal": False})))
    root = tmp_path / "state"
    with pytest.raises(ContainerError, match=r"root\.path: .*/rootfs is not a directory"):
        api.create(str(tmp_path), "c1", root=str(root))
    assert not (root / "c1").exists()


def test_operations_on_an_unknown_container_name_it(tmp_path):
    """state, kill, start and delete of an unknown id raise ContainerError naming the id; list is empty."""
    root = str(tmp_path)
    for operation in (api.state, api.start, lambda container_id, root: api.kill(container_id, signal.SIGTERM, root),
                      api.delete):
        with pytest.raises(ContainerError, match="'ghost' does not exist"):
            operation("ghost", root=root)
    assert api.list_containers(root) == []


def test_created_is_rfc3339_utc_with_nanoseconds():
    """`created` is written like runc's: 2026-11-29T23:59:01.123456789Z, and close to now."""
    stamp = utc_now_rfc3339()
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{9}Z", stamp)
    assert match, stamp
    assert abs(calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S")) - time.time()) < 5


@pytest.mark.parametrize("bad", ["cont\u00e9", "-rf", "--root", "a/b", "..", "", "x" * 1025, "tab\there"])
def test_ids_follow_runcs_ascii_rule_and_never_look_like_options(bad, tmp_path):
    """Non-ASCII letters (Python's \\w would take them), a leading '-', slashes and dot-dirs are refused by name."""
    with pytest.raises(ContainerError, match="invalid container id"):
        StateDir(str(tmp_path)).path(bad)


def test_creating_record_reads_creating_while_its_init_lives(tmp_path):
    """A record written between fork and the end of create says "creating"; once its init is gone, "stopped"."""
    states = StateDir(str(tmp_path))
    states.reserve("c1")
    started = process_start_time(os.getpid())[0]
    alive = ContainerRecord(id="c1", pid=os.getpid(), bundle="/b", rootfs="/b/r", oci_version="1.0.2",
                            start_time=started, creating=True)
    assert states.status(alive) == "creating"
    assert states.status(ContainerRecord(id="c1", pid=os.getpid(), bundle="/b", rootfs="/b/r", oci_version="1.0.2",
                                         start_time=started + 1, creating=True)) == "stopped"
