"""What `create` refuses before it makes anything: fields this runtime cannot apply here, a terminal without a
console socket (each error names the JSON path, or the option at fault)."""

from .cgroups import check_resources
from .errors import ContainerError, SpecError
from .lsm import check_lsm
from .namespaces import check_namespaces
from .spec import Spec
from .sysctl_policy import check_sysctls


def check_supported(spec: Spec) -> None:
    """Refuse what this runtime does not implement, rather than run a container weaker than asked."""
    check_lsm(spec.process, spec.linux)  # AppArmor and SELinux labels: applied where the LSM is active, else refused
    check_namespaces(spec)
    check_sysctls(spec)
    check_resources(spec.linux.resources)


def check_console(spec: Spec, console_socket: str | None) -> None:
    """A terminal needs a console socket to send its master to, and a socket without a terminal is a mistake."""
    if spec.process.terminal and not console_socket:
        raise SpecError("process.terminal", "true, but no console socket: pass --console-socket PATH (an AF_UNIX "
                                            "socket that receives the pty master), or set process.terminal to false")
    if console_socket and not spec.process.terminal:
        raise ContainerError(f"--console-socket {console_socket}: process.terminal is false in config.json; "
                             "set it to true to get a terminal")
