"""Tests of Debian version order, a series' release pattern, reading apt's index, and rewriting pins."""

import pytest

from harness.kernels import debversion
from harness.kernels.series import SeriesError, find, parse_show, point_releases, release_pattern
from harness.kernels.spec import PackageRef, parse_matrix
from harness.kernels.update import Change, rewrite

import re


@pytest.mark.parametrize("a, b, expected", [
    ("6.12.117-1~deb12u1", "6.12.118-1~deb12u1", -1),
    ("6.12.9-1", "6.12.10-1", -1),           # numbers compare as numbers
    ("7.2~rc3-1~exp1", "7.2-1", -1),         # ~ sorts before the end of the string
    ("6.1.176-1", "6.1.176-1", 0),
    ("1:5.0-1", "6.1-1", 1),                 # the epoch wins
    ("6.12.115-1~deb13u1", "6.12.115-1+deb13u1", -1),
    ("6.12.115-1", "6.12.115-1.1", -1),
    ("1.0a-1", "1.0-1", 1),                  # a letter sorts after the end
    ("1.0+b1", "1.0a", 1),                   # non-letters after letters
])
def test_compare_orders_as_dpkg(a, b, expected):
    """debversion.compare follows dpkg --compare-versions, including ~, epochs and revisions."""
    assert debversion.compare(a, b) == expected
    assert debversion.compare(b, a) == -expected


def test_malformed_version_is_named():
    """A string that is not a Debian version is refused by name."""
    with pytest.raises(ValueError, match="'x y'"):
        debversion.split("x y")


@pytest.mark.parametrize("release, same, other", [
    ("6.12.117+deb12-cloud-amd64", "6.12.118+deb12-cloud-amd64",
     ["6.12.118+deb13-cloud-amd64", "6.1.118+deb12-cloud-amd64", "6.12.118+deb12-amd64",
      "6.12.115+deb13.1-cloud-amd64"]),
    ("6.1.0-50-cloud-amd64", "6.1.0-57-cloud-amd64", ["6.1.0-0.deb11.48-cloud-amd64", "6.12.0-50-cloud-amd64"]),
    ("7.2.13+deb14-cloud-amd64", "7.2.9+deb14-cloud-amd64", ["7.3.4+deb14-cloud-amd64", "7.2.9+deb13-cloud-amd64"]),
])
def test_release_pattern_keeps_series_tag_and_flavour(release, same, other):
    """A series' pattern matches its other point releases and ABIs, never another series, tag or flavour."""
    pattern = re.compile(release_pattern(release))
    assert pattern.fullmatch(release) and pattern.fullmatch(same)
    for name in other:
        assert not pattern.fullmatch(name), name


SHOW = """\
Package: linux-binary-7.2.12+deb14-cloud-amd64
Version: 7.2.12-1
Filename: pool/main/l/linux-signed-amd64/x.deb
SHA256: AAAA000000000000000000000000000000000000000000000000000000000001

Package: linux-binary-7.2.13+deb14-cloud-amd64
Version: 7.2.13-1
SHA256: 0000000000000000000000000000000000000000000000000000000000000002

Package: linux-modules-7.2.13+deb14-cloud-amd64
Version: 7.2.13-1
SHA256: 0000000000000000000000000000000000000000000000000000000000000003
"""

SPEC_72 = parse_matrix("""
[kernels."7.2"]
release = "7.2.13+deb14-cloud-amd64"
suite = "sid"
packages = [
  { name = "linux-binary-7.2.13+deb14-cloud-amd64", version = "7.2.13-1", sha256 = "%s" },
  { name = "linux-modules-7.2.13+deb14-cloud-amd64", version = "7.2.13-1", sha256 = "%s" },
]
""" % ("1" * 64, "2" * 64)).kernels["7.2"]


def test_point_releases_need_every_package_at_one_version():
    """A split kernel's release counts only when all its packages are in the index at the same version."""
    names = ["linux-binary-7.2.12+deb14-cloud-amd64", "linux-binary-7.2.13+deb14-cloud-amd64"]
    releases = point_releases(SPEC_72, names, parse_show(SHOW))
    assert [r.release for r in releases] == ["7.2.13+deb14-cloud-amd64"]
    assert releases[0].packages[1] == PackageRef("linux-modules-7.2.13+deb14-cloud-amd64", "7.2.13-1", "0" * 63 + "3")


def test_point_releases_sorted_by_version_and_found_by_short_names():
    """Releases come oldest first by Debian version, and `find` takes a release, version or upstream version."""
    show = "".join(f"Package: linux-image-6.12.{n}+deb12-cloud-amd64-unsigned\nVersion: 6.12.{n}-1~deb12u1\n"
                   f"SHA256: {n:064d}\n\n" for n in (117, 9, 111))
    spec = parse_matrix(MATRIX).kernels["6.12"]
    names = [f"linux-image-6.12.{n}+deb12-cloud-amd64-unsigned" for n in (117, 9, 111)]
    releases = point_releases(spec, names, parse_show(show))
    assert [r.version for r in releases] == ["6.12.9-1~deb12u1", "6.12.111-1~deb12u1", "6.12.117-1~deb12u1"]
    assert find(releases, "6.12.111").version == "6.12.111-1~deb12u1"
    assert find(releases, "6.12.117+deb12-cloud-amd64").version == "6.12.117-1~deb12u1"
    with pytest.raises(SeriesError, match="6.12.9-1~deb12u1, 6.12.111"):
        find(releases, "6.12.110")


MATRIX = """\
# a comment that must survive
default = ["6.12"]

[kernels."6.12"]
description = "the 6.12 series"
release = "6.12.117+deb12-cloud-amd64"
suite = "bookworm-security"
packages = [
  { name = "linux-image-6.12.117+deb12-cloud-amd64-unsigned", version = "6.12.117-1~deb12u1", sha256 = "%s" },
]

[kernels."6.1"]
release = "6.1.0-50-cloud-amd64"
suite = "bookworm"
packages = [
  { name = "linux-image-6.1.0-50-cloud-amd64-unsigned", version = "6.1.176-1", sha256 = "%s" },
]
""" % ("a" * 64, "b" * 64)


def test_rewrite_changes_one_pin_in_place():
    """Only the named kernel's release, package name, version and sha256 change; comments and others stay."""
    matrix = parse_matrix(MATRIX)
    old = matrix.kernels["6.12"]
    new = old.packages[0].__class__("linux-image-6.12.118+deb12-cloud-amd64-unsigned", "6.12.118-1~deb12u1", "c" * 64)
    from harness.kernels.series import PointRelease
    text = rewrite(MATRIX, Change(old, PointRelease("6.12.118+deb12-cloud-amd64", (new,))))
    after = parse_matrix(text)
    assert after.kernels["6.12"].release == "6.12.118+deb12-cloud-amd64"
    assert after.kernels["6.12"].packages == (new,)
    assert after.kernels["6.1"] == matrix.kernels["6.1"]
    assert "# a comment that must survive" in text
    assert sum(a != b for a, b in zip(MATRIX.splitlines(), text.splitlines())) == 2


def test_unchanged_pin_says_so():
    """A pin that is already the newest is reported as such, and changes nothing."""
    old = parse_matrix(MATRIX).kernels["6.1"]
    from harness.kernels.series import PointRelease
    change = Change(old, PointRelease(old.release, old.packages))
    assert not change.changed
    assert "is the newest of its series" in change.lines()[0]
