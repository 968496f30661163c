"""Tests of the HOME the container's program gets when process.env has none (runc's rule)."""

from harness.runtime.process_env import with_home


def test_home_from_the_containers_passwd(tmp_path):
    """No HOME in the env: the uid's home directory from the container's /etc/passwd is added."""
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\nkh:x:1000:1000::/home/kh:/bin/sh\n")
    assert with_home(("PATH=/bin",), 1000, str(passwd)) == ("PATH=/bin", "HOME=/home/kh")
    assert with_home((), 0, str(passwd)) == ("HOME=/root",)


def test_home_defaults_to_root_directory(tmp_path):
    """A uid without an entry, or an image without /etc/passwd, gets HOME=/ as under runc."""
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\n")
    assert with_home((), 4242, str(passwd)) == ("HOME=/",)
    assert with_home((), 0, str(tmp_path / "missing")) == ("HOME=/",)


def test_a_given_home_is_kept(tmp_path):
    """HOME in process.env, even empty, is the config's choice: nothing is added or changed."""
    assert with_home(("HOME=",), 0, str(tmp_path / "missing")) == ("HOME=",)
