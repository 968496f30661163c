"""The runc-compatible command line: `python -m harness.runtime [--root DIR] VERB ...`; errors print `error: ...`."""

import argparse
import json
import signal
import sys
from collections.abc import Callable

from . import api
from .cli_log import LOG_FORMATS, write_log
from .errors import ContainerError, SpecError
from .state import DEFAULT_ROOT
from .wait_status import FORWARDED_SIGNALS

EXIT_FAILURE = 1


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the verb, and return the process exit status (the container's, for `run`)."""
    arguments = _parser().parse_args(argv)
    try:
        return arguments.handler(arguments) or 0
    except (SpecError, ContainerError, OSError) as error:
        # SyscallError is an OSError: its text names the call, arguments and errno.
        print(f"error: {_describe(error)}", file=sys.stderr)
        write_log(arguments.log, "error", _describe(error), arguments.log_format)
        return EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.runtime", description=__doc__)
    parser.add_argument("--root", default=DEFAULT_ROOT, help=f"directory of container state (default {DEFAULT_ROOT})")
    parser.add_argument("--log", metavar="FILE", help="also append errors to FILE (as runc: containerd reads it)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="the --log format (default text)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler: Callable[[argparse.Namespace], int | None], help_text: str,
             with_id: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if with_id:
            sub.add_argument("id", help="container id")
        return sub

    for name, handler, help_text in (("create", _create, "create a container, ready to start"),
                                     ("run", _run, "create, start and wait for a container; exit with its status")):
        sub = verb(name, handler, help_text)
        sub.add_argument("-b", "--bundle", default=".", help="bundle directory (default: the current directory)")
        sub.add_argument("--pid-file", help="write the container's host pid to this file")
        sub.add_argument("--console-socket", metavar="PATH",
                         help="with process.terminal: an AF_UNIX socket that receives the pty master (SCM_RIGHTS)")
        sub.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                         help="pass descriptors 3 .. 3+N-1 on to the container (all others are closed)")
        if name == "run":
            sub.add_argument("-d", "--detach", action="store_true",
                             help="return once the container has started; it keeps running (delete it later)")
    verb("start", _start, "start a created container")
    verb("state", _state, "print the OCI state of a container as JSON")
    kill = verb("kill", _kill, "send a signal (default SIGTERM) to the container's init")
    kill.add_argument("signal", nargs="?", default="SIGTERM", help="a name (KILL, SIGKILL) or a number")
    kill.add_argument("-a", "--all", action="store_true", help="signal every process of the container (its cgroup)")
    verb("pause", _pause, "freeze every process of the container")
    verb("resume", _resume, "thaw a paused container")
    verb("stats", _stats, "print the container's cgroup statistics as JSON (like runc events --stats)")
    delete = verb("delete", _delete, "remove a stopped or created container")
    delete.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    listing = verb("list", _list, "list containers", with_id=False)
    listing.add_argument("-f", "--format", choices=("table", "json"), default="table")
    listing.add_argument("-q", "--quiet", action="store_true", help="print ids only")
    ps = verb("ps", _ps, "list the host pids of a container's processes")
    ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
    exec_verb = verb("exec", _exec, "run a command in a running container; exit with its status")
    exec_verb.add_argument("--preserve-fds", type=int, default=0, metavar="N",
                           help="pass descriptors 3 .. 3+N-1 on to the process (all others are closed)")
    exec_verb.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    verb("features", _features, "print the runtime-spec features document as JSON", with_id=False)
    spec = verb("spec", _spec, "write a default busybox config.json (args [\"sh\"], no terminal)", with_id=False)
    spec.add_argument("-b", "--bundle", default=".", help="where to write config.json")
    return parser


def _create(arguments: argparse.Namespace) -> None:
    pid = api.create(arguments.bundle, arguments.id, root=arguments.root, preserve_fds=arguments.preserve_fds,
                     console_socket=arguments.console_socket)
    _write_pid_file(arguments.pid_file, pid)


def _run(arguments: argparse.Namespace) -> int:
    pid = api.create(arguments.bundle, arguments.id, root=arguments.root, preserve_fds=arguments.preserve_fds,
                     console_socket=arguments.console_socket)
    if arguments.detach:
        try:
            _write_pid_file(arguments.pid_file, pid)
            api.start(arguments.id, root=arguments.root)
        except BaseException:
            api.delete(arguments.id, force=True, root=arguments.root)  # never leave a half-run container behind
            raise
        return 0
    previous = {}
    try:
        _write_pid_file(arguments.pid_file, pid)
        for signum in FORWARDED_SIGNALS:
            previous[signum] = signal.signal(signum, lambda number, frame: _forward(arguments, number))
        api.start(arguments.id, root=arguments.root)
        return api.wait(arguments.id, root=arguments.root)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        api.delete(arguments.id, force=True, root=arguments.root)


def _forward(arguments: argparse.Namespace, signum: int) -> None:
    try:
        api.kill(arguments.id, signum, root=arguments.root)
    except ContainerError:
        pass  # it has just exited: the wait returns its status


def _start(arguments: argparse.Namespace) -> None:
    api.start(arguments.id, root=arguments.root)


def _state(arguments: argparse.Namespace) -> None:
    print(json.dumps(api.state(arguments.id, root=arguments.root), indent=2))


def _kill(arguments: argparse.Namespace) -> None:
    api.kill(arguments.id, arguments.signal, root=arguments.root, all=arguments.all)


def _pause(arguments: argparse.Namespace) -> None:
    api.pause(arguments.id, root=arguments.root)


def _resume(arguments: argparse.Namespace) -> None:
    api.resume(arguments.id, root=arguments.root)


def _stats(arguments: argparse.Namespace) -> None:
    print(json.dumps(api.stats(arguments.id, root=arguments.root), indent=2))


def _delete(arguments: argparse.Namespace) -> None:
    api.delete(arguments.id, force=arguments.force, root=arguments.root)


def _list(arguments: argparse.Namespace) -> None:
    containers = api.list_containers(arguments.root)
    if arguments.quiet:
        print("".join(f"{container['id']}\n" for container in containers), end="")
    elif arguments.format == "json":
        print(json.dumps(containers))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(c["id"], str(c["pid"]), c["status"], c["bundle"], c["created"], c["owner"] or "root")
                 for c in containers]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _ps(arguments: argparse.Namespace) -> None:
    pids = api.ps(arguments.id, root=arguments.root)
    if arguments.format == "json":
        print(json.dumps(pids))
    else:
        print("PID")
        print("".join(f"{pid}\n" for pid in pids), end="")


def _exec(arguments: argparse.Namespace) -> int:
    if not arguments.command:
        raise ContainerError("exec needs a command to run")
    return api.exec_in(arguments.id, arguments.command, root=arguments.root, preserve_fds=arguments.preserve_fds)


def _features(arguments: argparse.Namespace) -> None:
    from .features import features  # only here: every other verb would pay its imports
    print(json.dumps(features(), indent=4))


def _spec(arguments: argparse.Namespace) -> None:
    from .default_spec import write_default_config  # only here: every other verb would pay its import
    write_default_config(arguments.bundle)


def _write_pid_file(path: str | None, pid: int) -> None:
    if path:
        with open(path, "w", encoding="ascii") as pid_file:
            pid_file.write(f"{pid}")


def _describe(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename is not None and not hasattr(error, "syscall"):
        return f"{error.filename}: {error.strerror}"
    return str(error)
