"""What the host asks of a guest, and the words both sides share: the request, console markers, exit codes."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field

# The request travels on the kernel command line as one word: kharness.config=<urlsafe base64 of JSON>.
CONFIG_PARAM = "kharness.config="
CMDLINE_LIMIT = 2048  # COMMAND_LINE_SIZE on x86

# Console markers: the guest prints them, the host's console reader times the boot with them.
INIT_READY = "kharness-guest: init ready at"  # followed by "<uptime> s uptime; ..."
FIRST_TEST_MARKER = "KHARNESS-FIRST-TEST"  # followed by the test's node id

# The guest's exit statuses beyond pytest's own (0-5) and the exec mode's command's.
EXIT_INIT_FAILED = 100  # the init raised before or around pytest: not a pytest status (3 is INTERNAL_ERROR)
EXIT_CANNOT_EXECUTE = 127  # exec mode: the command could not be started (as a shell says)
PYTEST_NO_TESTS = 5

# Where the image puts the kernel modules the guest loads (harness.image.build writes, guest.sysfs reads).
MODULES_DIR = "kharness/modules"

MODES = ("run", "exec", "shell")


class RequestError(ValueError):
    """A request that cannot be built, or a command line that carries none."""


@dataclass(frozen=True)
class GuestRequest:
    """One guest's work: `run` pytest over `paths` with `pytest_args`, `exec` a `command`, or a `shell`.

    `paths` are decided on the host (the guest never guesses which argument is a path); `env` carries the
    suite knobs forwarded from the host's environment; `context` what the guest cannot know itself (accel,
    clock, QEMU version, commit, host CPU), given to pytest as KHARNESS_<KEY>."""

    mode: str
    kernel: str
    release: str = ""
    paths: tuple[str, ...] = ()
    pytest_args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    context: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RequestError(f"request mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mode == "exec" and not self.command:
            raise RequestError("an exec request needs a command")
        # Lists from JSON become tuples: the record stays hashable-looking and immutable.
        for name in ("paths", "pytest_args", "command"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_cmdline(self) -> str:
        """The kernel command-line word that carries this request."""
        data = json.dumps(asdict(self), separators=(",", ":")).encode()
        return CONFIG_PARAM + base64.urlsafe_b64encode(data).decode()

    @classmethod
    def from_cmdline(cls, cmdline: str) -> "GuestRequest":
        """The request in a kernel command line (/proc/cmdline)."""
        for word in cmdline.split():
            if word.startswith(CONFIG_PARAM):
                try:
                    fields = json.loads(base64.urlsafe_b64decode(word[len(CONFIG_PARAM):]))
                    return cls(**fields)
                except (ValueError, TypeError) as error:
                    raise RequestError(f"{CONFIG_PARAM} on the kernel command line is damaged: {error}") from error
        raise RequestError(f"no {CONFIG_PARAM} on the kernel command line; boot through `python -m harness`")
