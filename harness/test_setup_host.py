"""`python -m harness setup`: what a fresh machine lacks is named with the apt-get command that installs it."""

from harness import setup_host


def test_a_bare_path_misses_qemu_and_the_reference_runtimes(monkeypatch, tmp_path):
    """With nothing on PATH, QEMU, runc and crun are missing, each with its Debian package."""
    monkeypatch.setenv("PATH", str(tmp_path))
    absent = setup_host.missing()
    assert absent["qemu-system-x86_64"] == "qemu-system-x86"
    assert absent["runc"] == "runc" and absent["crun"] == "crun"


def test_without_install_the_fix_is_printed_and_the_status_is_1(monkeypatch, tmp_path):
    """Not asked to install: exit 1 and one command line that installs every missing package."""
    monkeypatch.setenv("PATH", str(tmp_path))
    lines: list[str] = []
    assert setup_host.ensure(install=False, log=lines.append) == 1
    (line,) = lines
    assert "sudo apt-get install -y --no-install-recommends" in line
    assert " crun " in line + " " and " runc " in line + " " and "qemu-system-x86" in line
