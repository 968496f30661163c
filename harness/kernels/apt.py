"""Download pinned Debian packages through the machine's apt, or a private apt state for other suites."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .spec import PackageRef

SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class FetchError(RuntimeError):
    """A kernel package could not be downloaded or verified; the message says what to do."""


@dataclass(frozen=True)
class AptSource:
    """One configured Debian source: mirror URI and suite."""

    uri: str
    suite: str


def configured_sources(sources_dir: Path = SOURCES_DIR, sources_list: Path = SOURCES_LIST) -> list[AptSource]:
    """Every (URI, suite) pair of the machine's apt configuration, deb822 and one-line formats."""
    found: list[AptSource] = []
    files = sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []
    for path in files:
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(
                (m.group(1).lower(), m.group(2).split())
                for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M)
            )
            if "deb" not in fields.get("types", []):
                continue
            if fields.get("enabled", ["yes"])[0].lower() in ("no", "false", "0"):
                continue  # apt skips a disabled stanza, and so do we
            for uri in fields.get("uris", []):
                found += [AptSource(uri.rstrip("/"), s) for s in fields.get("suites", [])]
    lists = [sources_list] + (sorted(sources_dir.glob("*.list")) if sources_dir.is_dir() else [])
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                found.append(AptSource(words[1].rstrip("/"), words[2]))
    return found


def mirror_for(suite: str, sources: list[AptSource], override: str | None = None) -> str:
    """The Debian mirror that serves `suite` (security suites come from debian-security): KHARNESS_DEBIAN_MIRROR
    where set (a machine whose apt sources are not Debian's, such as an Ubuntu CI runner), else the machine's."""
    want_security = suite.endswith("-security")
    override = (os.environ.get("KHARNESS_DEBIAN_MIRROR", "") if override is None else override).rstrip("/")
    if override:
        return override.removesuffix("-security") + ("-security" if want_security else "")
    for src in sources:
        is_security = src.uri.endswith("-security")
        if src.uri.endswith(("/debian", "/debian-security")) and is_security == want_security:
            return src.uri
    raise FetchError(
        f"no Debian mirror in the apt configuration ({SOURCES_DIR}) to fetch suite {suite!r} from; "
        "add a Debian source, set KHARNESS_DEBIAN_MIRROR to a Debian mirror's URI (its -security sibling serves "
        "the security suites), or pass --kernel PATH to a local bzImage"
    )


def private_apt_options(state_root: Path, uri: str, suite: str) -> list[str]:
    """apt-get options that point apt at one suite of a mirror, in a state directory of our own."""
    etc = state_root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (state_root / "state" / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state_root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (etc / "sources.list").write_text(f"deb [signed-by={KEYRING}] {uri} {suite} main\n")
    return [
        "-o", f"Dir::Etc::SourceList={etc / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State={state_root / 'state'}",
        "-o", f"Dir::Cache={state_root / 'cache'}",
    ]


def apt_get(args: list[str], cwd: Path, tool: str = "apt-get") -> subprocess.CompletedProcess:
    """Run apt-get (or apt-cache) with `args`; FetchError when it is missing or hangs."""
    # apt's download sandbox user (_apt) cannot write into our cache: download as ourselves.
    cmd = [tool, "-q", "-o", "APT::Sandbox::User=root", *args]
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise FetchError(f"{tool} not found: fetching Debian kernels needs a Debian or Ubuntu host; "
                         "pass --kernel PATH to a local bzImage instead") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{' '.join(cmd)}: no answer within 900 s; check the network and apt mirror") from None


def apt_cache(args: list[str], cwd: Path, allow_missing: bool = False) -> str:
    """apt-cache's output; FetchError on failure (unless allow_missing: `show` of names the index lacks)."""
    done = apt_get(args, cwd, tool="apt-cache")
    if done.returncode != 0 and not (allow_missing and done.stdout.strip()):
        raise FetchError(f"apt-cache {' '.join(args[-2:])} failed:\n{done.stderr.strip()}")
    return done.stdout


# What apt-get download says of a package or version its index does not have.
_GONE = ("Unable to locate package", "was not found", "Can't select version", "has no installation candidate")


def download(pkg: PackageRef, dest: Path, suite: str | None, state_root: Path, kernel: str = "",
             matrix: Path | None = None) -> Path:
    """Download one pinned package into dest and return the .deb path (not yet verified)."""
    dest.mkdir(parents=True, exist_ok=True)
    target = f"{pkg.name}={pkg.version}"
    first = apt_get(["download", target], dest)
    if first.returncode != 0 and suite:
        uri = mirror_for(suite, configured_sources())
        opts = private_apt_options(state_root / suite, uri, suite)
        update = apt_get([*opts, "update"], dest)
        if update.returncode != 0:
            raise FetchError(f"apt-get update of private state for {uri} {suite} failed:\n{update.stderr.strip()}")
        first = apt_get([*opts, "download", target], dest)
    if first.returncode != 0 and any(gone in first.stderr for gone in _GONE):
        fix = f"python -m harness kernels update {kernel}".rstrip() + (f" --matrix {matrix}" if matrix else "")
        raise FetchError(
            f"{target}, pinned in {matrix or 'kernels.toml'}{f' for kernel {kernel}' if kernel else ''}, is no "
            f"longer on the "
            f"mirror{f' (suite {suite})' if suite else ''}: Debian drops a version when a newer one lands. "
            f"Run `{fix}` to pin the newest release of its series (it shows the change and rewrites "
            f"the pin).\napt-get said: {first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ''}"
        )
    if first.returncode != 0:
        raise FetchError(f"apt-get download {target} failed:\n{first.stderr.strip()}\n"
                         "check the network and the apt mirror, then run again")
    debs = sorted(dest.glob(f"{pkg.name}_*.deb"))
    if not debs:
        raise FetchError(f"apt-get download {target} succeeded but wrote no .deb into {dest}")
    return debs[0]
