"""Structured logging for every Quizhub process.

Call sites use stdlib ``logging`` with ``extra={...}`` context (game, device, reason); this module renders each record
as one JSON object (``--log-format json``, for log shippers) or as ``key=value`` text for a terminal
(``--log-format text``; ``console`` is its old name). Game and device ids go in as ``extra={"game": ..., "device":
...}`` and come out as fields of their own, so a log shipper can filter one game or one buzzer.

Secrets never reach here: settings hold them as ``SecretStr`` and adapters log names, not passwords. As a net under
that rule, a context field whose name says it holds a secret (password, token, secret...) is printed as
``[redacted]``, whatever its value.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["NOISY_LOGGERS", "REDACTED", "ConsoleFormatter", "JsonFormatter", "LogFormat", "ProcessLogHandler",
           "configure_logging"]

LogFormat = Literal["text", "console", "json"]
REDACTED = "[redacted]"
# amqtt and transitions are chatty at INFO about every packet and state; their warnings still show.
NOISY_LOGGERS = ("amqtt", "transitions", "uvicorn.access", "alembic")
# Substrings of a context field's name that mark its value as a secret, whoever logged it ("credential" is not one:
# broker/credentials.py logs the login *name* under it).
_SECRET_NAMES = ("password", "passwd", "secret", "token", "authorization", "cookie", "api_key")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is context worth printing.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAMES)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: REDACTED if _is_secret(k) else v
        for k, v in vars(record).items()
        if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's context fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Readable one-liners for a terminal: time level logger: message key=value ..."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        ctx = " ".join(f"{k}={v}" for k, v in _context(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if ctx:
            line = f"{line}  {ctx}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class ProcessLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler `configure_logging` puts on the root logger: one a process, replaced by the next call."""


def remove_process_handler() -> None:
    """Take `configure_logging`'s handler off the root logger (and close it), leaving every other handler."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, ProcessLogHandler)]:
        root.removeHandler(handler)
        handler.close()


def configure_logging(fmt: LogFormat = "text", level: str = "INFO") -> None:
    """Put one stderr handler on the root logger with the chosen rendering (``json``, or ``text``/``console``).

    A second call replaces the first call's handler (the stderr of its time) instead of adding another; handlers
    that others put on the root logger stay.
    """
    handler = ProcessLogHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    remove_process_handler()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
