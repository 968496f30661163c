"""Entry point of `python -m harness.runtime`, the runc-compatible CLI."""

import gc
import os
import sys

# A short-lived command: the cyclic GC would only walk the freshly imported modules' objects.
gc.disable()

from .cli import main  # noqa: E402 (after gc.disable, so the imports run without collections)

status = main()
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except OSError:  # a closed pipe (`... state ID | head -1`): nothing more can be said
        pass
# Skip the interpreter's teardown of every module (~6 ms natively, far more under TCG): the verb has already
# released what it holds (state files, fds, child processes).
os._exit(status)
