"""The last lines of the application log, for the admin log viewer.

The log file is the ``log_file`` setting (JSON lines written by
:mod:`lts.logging_setup` whatever ``log_format`` is). Only its end is read, backwards in
blocks, never more than :data:`MAX_SCAN_BYTES`, so a log of gigabytes costs the same as
a small one. Lines that are not JSON (a crash's traceback written by another handler)
are kept as text with no level, so nothing is hidden from the admin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lts.errors import ValidationFailed
from lts.models import User
from lts.services.access import require_admin

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BLOCK = 64 * 1024
MAX_SCAN_BYTES = 8 * 1024 * 1024
SCAN_LINES = 20_000
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
_COLORS = {"DEBUG": "secondary", "INFO": "info", "WARNING": "warning", "ERROR": "danger",
           "CRITICAL": "danger"}


@dataclass(frozen=True)
class LogLine:
    """One line of the log: its parsed fields (empty for a non-JSON line) and its text."""

    text: str
    fields: dict[str, Any]

    @property
    def level(self) -> str | None:
        """The record's level name, None for a non-JSON line."""
        value = self.fields.get("level")
        return str(value) if value is not None else None

    @property
    def color(self) -> str:
        """The Bootstrap colour of the level's badge."""
        return _COLORS.get(self.level or "", "light")

    @property
    def request_id(self) -> str | None:
        """The request id the record was logged under, if any."""
        value = self.fields.get("request_id")
        return str(value) if value is not None else None

    @property
    def extras(self) -> dict[str, Any]:
        """Fields beyond time, level, logger, message and request id (shown compactly)."""
        shown = {"time", "level", "logger", "message", "request_id", "exception"}
        return {k: v for k, v in self.fields.items() if k not in shown}


@dataclass(frozen=True)
class LogTail:
    """What the viewer shows: the matching lines (oldest first) and where they came from."""

    path: str | None
    lines: list[LogLine]
    scanned: int
    missing: bool


def tail_lines(path: Path, count: int, max_bytes: int = MAX_SCAN_BYTES) -> list[str]:
    """The last ``count`` lines of ``path`` (at most ``max_bytes`` read, from the end)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        position, chunks, newlines = end, [], 0
        while position > 0 and newlines <= count and end - position < max_bytes:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    lines = data.decode("utf-8", errors="replace").splitlines()
    if position > 0 and lines:
        lines = lines[1:]  # the first line was cut by the block boundary
    return [line for line in lines[-count:] if line.strip()]


def _parse(text: str) -> LogLine:
    """A line as parsed JSON (an object), else as bare text."""
    try:
        value = json.loads(text)
    except ValueError:
        return LogLine(text=text, fields={})
    return LogLine(text=text, fields=value if isinstance(value, dict) else {})


def check_filters(level: str | None, request_id: str | None, limit: int | None
                  ) -> tuple[str | None, str | None, int]:
    """Normalised filters; ValidationFailed names every bad one."""
    errors: dict[str, list[str]] = {}
    level = (level or "").strip().upper() or None
    if level is not None and level not in LEVELS:
        errors["level"] = [f"must be one of {', '.join(LEVELS)}"]
    request_id = (request_id or "").strip() or None
    if request_id is not None and len(request_id) > 200:
        errors["request_id"] = ["must be at most 200 characters"]
    if limit is None:
        limit = DEFAULT_LIMIT
    elif not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [f"must be between 1 and {MAX_LIMIT}"]
    if errors:
        raise ValidationFailed("invalid log filter", errors)
    return level, request_id, limit


def _matching(lines: list[str], level: str | None, request_id: str | None
              ) -> Iterator[LogLine]:
    """Lines at ``level`` or above (non-JSON lines only without a level filter)."""
    floor = LEVELS.index(level) if level else None
    for text in lines:
        line = _parse(text)
        if floor is not None and (line.level not in LEVELS or LEVELS.index(line.level) < floor):
            continue
        if request_id is not None and line.request_id != request_id:
            continue
        yield line


def read_log(actor: User, log_file: str | None, *, level: str | None = None,
             request_id: str | None = None, limit: int | None = None,
             ip: str | None = None) -> LogTail:
    """The last ``limit`` lines matching the filters, among the last SCAN_LINES lines.

    Admins only: anyone else is refused (Forbidden) and the attempt audited, as every
    admin page's service does. Reads by admins are not audited (the config page's are
    not either): the log is theirs to read.
    """
    require_admin(actor, "logs.read", ip=ip)
    level, request_id, limit = check_filters(level, request_id, limit)
    if not log_file:
        return LogTail(path=None, lines=[], scanned=0, missing=False)
    path = Path(log_file)
    if not path.is_file():
        return LogTail(path=str(path), lines=[], scanned=0, missing=True)
    lines = tail_lines(path, SCAN_LINES)
    found = list(_matching(lines, level, request_id))[-limit:]
    return LogTail(path=str(path), lines=found, scanned=len(lines), missing=False)
