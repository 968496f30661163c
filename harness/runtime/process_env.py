"""The environment the container's program gets: the spec's `process.env`, plus HOME as runc adds it when absent."""

PASSWD = "/etc/passwd"
DEFAULT_HOME = "/"


def with_home(env: tuple[str, ...], uid: int, passwd: str = PASSWD) -> tuple[str, ...]:
    """`env` with HOME set, if it has none, to the home of `uid` in the container's /etc/passwd (read after
    pivot_root), else "/": what runc does, so programs that look for ~ behave the same under either runtime."""
    if any(entry.startswith("HOME=") for entry in env):
        return env
    return (*env, f"HOME={_home_of(uid, passwd)}")


def _home_of(uid: int, passwd: str) -> str:
    try:
        with open(passwd, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid) and fields[5]:
                    return fields[5]
    except OSError:
        pass  # an image without /etc/passwd: runc falls back to "/" too
    return DEFAULT_HOME
