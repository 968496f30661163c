"""A kernel series in a Debian suite: every packaged point release of a pinned kernel, read from apt's index."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import apt, debversion
from .spec import KernelSpec, PackageRef


class SeriesError(apt.FetchError):
    """The series of a kernel cannot be listed or has no such release; the message says what to do."""


def release_pattern(release: str) -> str:
    """A regex matching every release of the same series and flavour as `release`.

    The first two numbers (the series, 6.12) and every other run of characters stay as they are; a number
    after a '.' or '-' (the point release, Debian's ABI number) matches any number. So 6.12.117+deb12-cloud-amd64
    gives 6\\.12\\.\\d+\\+deb12-cloud-amd64: distribution tags (deb12) and the flavour (amd64) do not change."""
    series = re.match(r"^\d+\.\d+", release)
    if not series:
        raise SeriesError(f"release {release!r} does not start with a series such as 6.12")
    rest = release[series.end():]
    parts = re.split(r"(?<=[.-])(\d+)", rest)
    # re.split with a group alternates text and captured numbers.
    pattern = "".join(r"\d+" if i % 2 else re.escape(text) for i, text in enumerate(parts))
    return re.escape(series.group()) + pattern


@dataclass(frozen=True)
class PointRelease:
    """One packaged release of a series: its release string and the pinned packages that hold it."""

    release: str
    packages: tuple[PackageRef, ...]

    @property
    def version(self) -> str:
        return self.packages[0].version

    def spec(self, like: KernelSpec, name: str | None = None) -> KernelSpec:
        return KernelSpec(name=name or like.name, release=self.release, packages=self.packages,
                          suite=like.suite, description=like.description)


def name_templates(spec: KernelSpec) -> list[str]:
    """Each package name with its release replaced by {release}; a name without the release is refused."""
    templates = []
    for pkg in spec.packages:
        if spec.release not in pkg.name:
            raise SeriesError(f"package {pkg.name} of kernel {spec.name} does not carry its release "
                              f"{spec.release} in its name, so its newer releases cannot be found by name")
        templates.append(pkg.name.replace(spec.release, "{release}"))
    return templates


def parse_show(text: str) -> dict[tuple[str, str], str]:
    """`apt-cache show` stanzas as {(package, version): sha256}."""
    found = {}
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(m.groups() for m in re.finditer(r"^([A-Za-z0-9-]+):\s*(.*)$", stanza, re.M))
        if {"Package", "Version", "SHA256"} <= set(fields):
            found[(fields["Package"], fields["Version"])] = fields["SHA256"].lower()
    return found


def point_releases(spec: KernelSpec, names: list[str], stanzas: dict[tuple[str, str], str]) -> list[PointRelease]:
    """The releases of spec's series for which every package of the kernel exists, oldest first.

    `names` are the package names the index holds; `stanzas` what `apt-cache show` said of them. A release
    whose packages are not all there at one version (the split 7.2 packages built apart) is left out."""
    templates = name_templates(spec)
    head = re.compile("^" + re.escape(templates[0]).replace(re.escape("{release}"), f"({release_pattern(spec.release)})") + "$")
    releases = []
    for name in names:
        match = head.match(name)
        if not match:
            continue
        release = match.group(1)
        versions = [v for (pkg, v) in stanzas if pkg == name]
        for version in versions:
            refs = []
            for template in templates:
                pkg_name = template.format(release=release)
                sha = stanzas.get((pkg_name, version))
                if sha is None:
                    break
                refs.append(PackageRef(pkg_name, version, sha))
            else:
                releases.append(PointRelease(release, tuple(refs)))
    releases.sort(key=lambda r: debversion.sort_key(r.version))
    return releases


def _private(spec: KernelSpec, state_root: Path) -> list[str]:
    if not spec.suite:
        raise SeriesError(f"kernel {spec.name} names no suite in kernels.toml: its series cannot be looked up")
    uri = apt.mirror_for(spec.suite, apt.configured_sources())
    return apt.private_apt_options(state_root / spec.suite, uri, spec.suite)


def list_series(spec: KernelSpec, state_root: Path, log=print) -> list[PointRelease]:
    """Every point release of spec's series that its suite carries now, oldest first (apt-get update first)."""
    opts = _private(spec, state_root)
    log(f"[{spec.name}] reading the {spec.suite} index")
    update = apt.apt_get([*opts, "update"], state_root)
    if update.returncode != 0:
        raise SeriesError(f"apt-get update of suite {spec.suite} failed:\n{update.stderr.strip()}")
    templates = name_templates(spec)
    series = re.match(r"^\d+\.\d+", spec.release).group()
    names = apt.apt_cache([*opts, "pkgnames", templates[0].split("{release}")[0] + series], state_root).split()
    pattern = re.compile(release_pattern(spec.release))
    releases = {r for r in (_release_in(n, templates[0], pattern) for n in names) if r}
    wanted = sorted(t.format(release=r) for r in releases for t in templates)
    if not wanted:
        raise SeriesError(f"suite {spec.suite} carries no package of the series of {spec.release} "
                          f"(looked for {templates[0].format(release=pattern.pattern)})")
    shown = apt.apt_cache([*opts, "show", *wanted], state_root, allow_missing=True)
    return point_releases(spec, wanted, parse_show(shown))


def _release_in(name: str, template: str, pattern: re.Pattern) -> str | None:
    before, after = template.split("{release}")
    if name.startswith(before) and name.endswith(after):
        middle = name[len(before):len(name) - len(after) or None]
        return middle if pattern.fullmatch(middle) else None
    return None


def find(releases: list[PointRelease], wanted: str) -> PointRelease:
    """The point release named by a release (6.12.113+deb12-cloud-amd64), an upstream version (6.12.113) or a
    package version (6.12.113-1~deb12u1)."""
    for r in releases:
        if wanted in (r.release, r.version, r.version.split("-")[0]):
            return r
    known = ", ".join(r.version for r in releases)
    raise SeriesError(f"{wanted!r} is not a release the suite carries now; it has {known}")
