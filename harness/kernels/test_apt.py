"""Tests of reading the machine's apt sources (deb822 and one-line), choosing a mirror, and private apt state."""

import pytest

from harness.kernels.apt import KEYRING, AptSource, FetchError, configured_sources, mirror_for, private_apt_options

DEB822 = """\
# The machine's Debian sources
Types: deb
URIs: http://deb.debian.org/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

# sources only: never a binary mirror
Types: deb-src
URIs: http://src.example.org/debian
Suites: trixie
Components: main
"""

ONE_LINE = """\
# deb http://commented.example.org/debian bullseye main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] http://mirror.example.org/debian/ trixie main  # a comment
deb-src http://mirror.example.org/debian trixie main
deb [ trusted=yes ] http://old.example.org/debian-security bullseye-security main

deb http://incomplete.example.org/debian
"""


@pytest.fixture
def apt_etc(tmp_path):
    """A fake /etc/apt with a deb822 file, a .list file in sources.list.d and a sources.list."""
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(DEB822)
    (parts / "extra.list").write_text(ONE_LINE)
    (tmp_path / "sources.list").write_text("deb http://main.example.org/debian sid main\n")
    return parts, tmp_path / "sources.list"


def test_configured_sources_reads_deb822_and_one_line_files(apt_etc):
    """Every binary (deb) source is found: deb822 stanzas first, then sources.list, then *.list files."""
    parts, sources_list = apt_etc
    assert configured_sources(parts, sources_list) == [
        AptSource("http://deb.debian.org/debian", "bookworm"),
        AptSource("http://deb.debian.org/debian", "bookworm-updates"),
        AptSource("http://deb.debian.org/debian-security", "bookworm-security"),
        AptSource("http://main.example.org/debian", "sid"),
        AptSource("http://mirror.example.org/debian", "trixie"),
        AptSource("http://old.example.org/debian-security", "bullseye-security"),
    ]


def test_configured_sources_without_any_file(tmp_path):
    """A machine without apt configuration has no sources, and no error."""
    assert configured_sources(tmp_path / "absent.d", tmp_path / "absent.list") == []


def test_configured_sources_skips_disabled_deb822_stanza(tmp_path):
    """A deb822 stanza with `Enabled: no` is not a configured source (apt ignores it too)."""
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "off.sources").write_text(
        "Types: deb\nURIs: http://disabled.example.org/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n")
    assert configured_sources(parts, tmp_path / "none") == []


SOURCES = [
    AptSource("http://archive.example.org/ubuntu", "noble"),
    AptSource("http://deb.debian.org/debian", "bookworm"),
    AptSource("http://deb.debian.org/debian-security", "bookworm-security"),
]


@pytest.fixture(autouse=True)
def no_mirror_override(monkeypatch):
    """The tests read the apt configuration given to them, whatever the caller's environment says."""
    monkeypatch.delenv("KHARNESS_DEBIAN_MIRROR", raising=False)


def test_mirror_override_serves_machines_without_debian_sources(monkeypatch):
    """KHARNESS_DEBIAN_MIRROR wins over the apt sources (an Ubuntu runner has none of Debian's); the -security
    sibling serves security suites, and an empty value counts as unset."""
    ubuntu = [AptSource("http://archive.example.org/ubuntu", "noble")]
    monkeypatch.setenv("KHARNESS_DEBIAN_MIRROR", "http://mirror.example.org/debian/")
    assert mirror_for("sid", ubuntu) == "http://mirror.example.org/debian"
    assert mirror_for("bookworm-security", ubuntu) == "http://mirror.example.org/debian-security"
    monkeypatch.setenv("KHARNESS_DEBIAN_MIRROR", "")
    with pytest.raises(FetchError, match="KHARNESS_DEBIAN_MIRROR"):
        mirror_for("sid", ubuntu)


def test_mirror_for_security_suite_picks_debian_security():
    """A -security suite is fetched from the debian-security mirror."""
    assert mirror_for("bookworm-security", SOURCES) == "http://deb.debian.org/debian-security"


@pytest.mark.parametrize("suite", ["bookworm", "sid", "trixie", "bookworm-updates"])
def test_mirror_for_other_suites_picks_plain_debian(suite):
    """Any other suite, configured or not, is fetched from the plain Debian mirror."""
    assert mirror_for(suite, SOURCES) == "http://deb.debian.org/debian"


def test_mirror_for_without_a_debian_mirror_is_an_error():
    """Without a Debian mirror of the right kind FetchError says how to proceed."""
    with pytest.raises(FetchError, match="no Debian mirror.*'sid'.*--kernel PATH"):
        mirror_for("sid", [AptSource("http://archive.example.org/ubuntu", "noble")])
    with pytest.raises(FetchError, match="bookworm-security"):
        mirror_for("bookworm-security", [AptSource("http://deb.debian.org/debian", "bookworm")])


def test_private_apt_options_writes_sources_list_with_suite(tmp_path):
    """The private state has a sources.list naming the mirror, suite and keyring, and the options point at it."""
    state = tmp_path / "apt-state" / "sid"
    options = private_apt_options(state, "http://deb.debian.org/debian", "sid")
    sources_list = state / "etc" / "sources.list"
    assert sources_list.read_text() == f"deb [signed-by={KEYRING}] http://deb.debian.org/debian sid main\n"
    assert f"Dir::Etc::SourceList={sources_list}" in options
    assert "Dir::Etc::SourceParts=/nonexistent" in options
    assert f"Dir::State={state / 'state'}" in options
    assert f"Dir::Cache={state / 'cache'}" in options
    assert options[::2] == ["-o"] * 4
    assert (state / "state" / "lists" / "partial").is_dir()
    assert (state / "cache" / "archives" / "partial").is_dir()


def test_private_apt_options_can_run_twice(tmp_path):
    """Calling it again on the same state directory succeeds and rewrites the suite."""
    private_apt_options(tmp_path, "http://deb.debian.org/debian", "sid")
    private_apt_options(tmp_path, "http://deb.debian.org/debian", "trixie")
    assert " trixie main" in (tmp_path / "etc" / "sources.list").read_text()


def test_a_pin_gone_from_the_mirror_names_the_update_command(tmp_path, monkeypatch):
    """When apt no longer has the pinned version, the error says so and names `kernels update NAME`."""
    import subprocess

    from harness.kernels import apt
    from harness.kernels.spec import PackageRef

    def gone(args, cwd, tool="apt-get"):
        return subprocess.CompletedProcess(args, 100, "", "E: Version '6.12.110-1~deb12u1' for "
                                           "'linux-image-6.12.110+deb12-cloud-amd64-unsigned' was not found\n")
    monkeypatch.setattr(apt, "apt_get", gone)
    pkg = PackageRef("linux-image-6.12.110+deb12-cloud-amd64-unsigned", "6.12.110-1~deb12u1", "0" * 64)
    with pytest.raises(FetchError) as err:
        apt.download(pkg, tmp_path, None, tmp_path / "state", kernel="6.12")
    message = str(err.value)
    assert "no longer on the mirror" in message
    assert "python -m harness kernels update 6.12" in message
    assert "was not found" in message
