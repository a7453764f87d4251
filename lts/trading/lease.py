"""The scheduler lease: one row decides which process runs ticks.

Acquire and renew are one atomic ``UPDATE ... WHERE name = ? AND (expires_at < now OR
holder = me)``: whoever's update matches holds the lease until ``expires_at``. A dead
holder stops renewing, its lease expires, and the next process to ask takes over.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lts.database import write_transaction
from lts.models import SchedulerLease

TICK_LEASE = "tick"


def make_holder_id() -> str:
    """Return a holder id unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def try_acquire(session: Session, holder: str, now: datetime, ttl_seconds: float,
                name: str = TICK_LEASE) -> bool:
    """Take or renew the lease ``name`` for ``ttl_seconds``; True when ``holder`` has it."""
    expires = now + timedelta(seconds=ttl_seconds)
    try:
        with write_transaction(session):
            result = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == name,
                       or_(SchedulerLease.expires_at < now, SchedulerLease.holder == holder))
                .values(holder=holder, expires_at=expires)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
            exists = session.scalar(select(SchedulerLease.name)
                                    .where(SchedulerLease.name == name))
            if exists is not None:
                return False
            session.add(SchedulerLease(name=name, holder=holder, expires_at=expires))
    except IntegrityError:
        return False  # another process inserted the row first
    return True


def release(session: Session, holder: str, name: str = TICK_LEASE) -> None:
    """Give the lease up (on clean shutdown) so another process need not wait for expiry."""
    with write_transaction(session):
        session.execute(delete(SchedulerLease).where(SchedulerLease.name == name,
                                                     SchedulerLease.holder == holder))


def current_holder(session: Session, now: datetime, name: str = TICK_LEASE
                   ) -> tuple[str, datetime] | None:
    """(holder, expires_at) of a live lease, or None when nobody holds it."""
    row = session.execute(select(SchedulerLease.holder, SchedulerLease.expires_at)
                          .where(SchedulerLease.name == name)).first()
    if row is None or row.expires_at < now:
        return None
    return row.holder, row.expires_at
