"""The runtime CLI's `--log FILE --log-format text|json`: its errors and warnings as runc writes them (logrus)."""

import json
import time

LOG_FORMATS = ("text", "json")


def log_line(level: str, message: str, log_format: str, now: float | None = None) -> str:
    """One log record: `time="..." level=error msg="..."` (text) or {"level", "msg", "time"} (json), as runc's."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    if log_format == "json":
        return json.dumps({"level": level, "msg": message, "time": stamp}) + "\n"
    return f"time={json.dumps(stamp)} level={level} msg={json.dumps(message)}\n"


def write_log(path: str | None, level: str, message: str, log_format: str) -> None:
    """Append one record to the log file (nothing without --log); an unwritable log must not hide the error."""
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(log_line(level, message, log_format))
    except OSError:
        pass  # the message still goes to stderr
