"""The runtime's waiting helpers: which signals are the container's, and leaving with the container's wait status."""

import os
import resource
import signal

# Signals that `run` forwards to the container, and that a helper waiting for it must not die of.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def ignore_forwarded_signals() -> None:
    """In a helper that only waits: a terminal's ^C or a forwarded signal is for the container, not for it.

    Call it after cloning the container: an ignored signal would stay ignored across the container's execve.
    """
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def exit_like(status: int) -> None:  # never returns
    """Exit with the wait status of the container: the same exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the container may have dumped core; we must not
        if number not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught, so need no reset
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {number})
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # a signal whose default is not to terminate (SIGCHLD...): say it as run would
    os._exit(os.waitstatus_to_exitcode(status))
