"""What people see of a failure: a message and an error id, never the server's internals.

Plugin and engine failures are recorded whole (audit rows and logs keep the exception,
its absolute paths and its call chain). A page shows a user only the message with the
call chain cut and every absolute path reduced to its file name, plus the error id
(the audit row's id) to quote; an administrator opens that id on
``/admin/errors/<id>`` to read everything.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lts.extensions import db
from lts.models import AuditLog
from lts.services.access import is_admin
from lts.trading.status import ERROR_ACTIONS

log = logging.getLogger("lts.errors")

# "(at csv.py:12 read <- engine.py:40 step)": traceback_summary's call chain.
_CALL_CHAIN = re.compile(r"\s*\(at [^()]*\)\s*$")
# Two or more path parts after a root ("/srv/lts/data/x.csv", "C:\\lts\\x.csv"); a
# symbol like "EUR/USD" (a word before the slash) or a URL's "//host" is left alone.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/\\])(?:[A-Za-z]:)?(?:[/\\][^\s'\"()<>,;:/\\]+){2,}")


def public_message(text: str) -> str:
    """``text`` without its call chain and with each absolute path cut to its file name."""
    text = _CALL_CHAIN.sub("", text or "")
    return _ABSOLUTE_PATH.sub(lambda m: re.split(r"[/\\]", m.group())[-1], text)


@dataclass(frozen=True)
class ErrorView:
    """One recorded failure as a page shows it: where, which plugin, message and id."""

    id: int
    at: datetime
    where: str
    plugin: str
    timed_out: bool
    message: str

    @property
    def reference(self) -> str:
        """The id a user quotes to an administrator."""
        return f"E{self.id}"


def error_view(row: AuditLog) -> ErrorView:
    """The public view of an error audit row."""
    details: Mapping[str, Any] = row.details or {}
    plugin = " ".join(str(details.get(k, "")) for k in ("kind", "plugin") if details.get(k))
    if details.get("method"):
        plugin += f".{details['method']}"
    return ErrorView(id=row.id, at=row.timestamp, where=row.resource or row.action,
                     plugin=plugin, timed_out=bool(details.get("timed_out")),
                     message=public_message(str(details.get("error")
                                                or details.get("message") or "")))


def error_details(actor: Any, error_id: int) -> AuditLog | None:
    """The whole recorded error ``error_id`` for an administrator (None: no such error)."""
    if not is_admin(actor):
        return None
    row = db.session.get(AuditLog, error_id)
    return row if row is not None and row.action in ERROR_ACTIONS else None


def report_unrecorded(where: str, text: str) -> str:
    """Log a failure that has no audit row; return the public message with a new id.

    The id is random (the failure is only in the log), so a user can still quote it.
    """
    reference = f"L{secrets.token_hex(4)}"
    log.warning("%s failed [error %s]: %s", where, reference, text)
    return f"{public_message(text)} (error id {reference})"
