"""Structured logging of what the application does: imports, analyses and edits — who, what, how long.

Every record is one event name and its fields (``event=edit layer=grids key=… user=wangge
seconds=0.041``), as text or as one JSON object per line (``SHEQU_LOG_JSON=true``), so an operator can
grep or ship them. Secrets never reach a record: only fields named here are written, passwords and
tokens are never passed in, and database URLs are logged without their password.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOGGER = logging.getLogger("shequ")
#: field names that must never be logged, whatever a caller passes
_SECRET = ("password", "token", "secret", "key")


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in fields.items():
        if any(word in name.lower() for word in _SECRET):
            continue
        if isinstance(value, float):
            value = round(value, 4)
        out[name] = value
    return out


def _text(value: Any) -> str:
    """A value for key=value text: quoted when it holds spaces."""
    if isinstance(value, str) and (" " in value or not value):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        when = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        if self.as_json:
            return json.dumps({"at": when, "level": record.levelname, "event": record.getMessage(), **fields},
                              ensure_ascii=False, default=str)
        text = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        return f"{when} {record.levelname:<7} {record.getMessage()} {text}".rstrip()


def configure(level: str = "INFO", as_json: bool = False) -> None:
    """Send shequ's records to stderr (once per process; later calls change level and format)."""
    handler = next((h for h in LOGGER.handlers if getattr(h, "_shequ", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._shequ = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
    handler.setFormatter(_Formatter(as_json))
    LOGGER.setLevel(level.upper())


def event(name: str, /, _severity: int = logging.INFO, **fields: Any) -> None:
    """One record: ``name`` and its fields (any names, ``level`` too)."""
    if LOGGER.isEnabledFor(_severity):
        LOGGER.log(_severity, name, extra={"fields": _clean(fields)})


@contextmanager
def timed(name: str, /, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log ``name`` with its fields and the seconds it took; the block may add fields to the dict it
    gets. A failure is logged too (``outcome=error`` and the error's code), then re-raised."""
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    try:
        yield extra
    except Exception as exc:
        event(name, logging.WARNING, **fields, **extra, outcome="error",
              error=getattr(exc, "code", type(exc).__name__), seconds=time.perf_counter() - start)
        raise
    event(name, **fields, **extra, seconds=time.perf_counter() - start)
