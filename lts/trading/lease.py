"""The scheduler lease: one row decides which process runs ticks.

Acquire and renew are one atomic ``UPDATE ... WHERE name = ? AND (expires_at < now OR
holder = me)``: whoever's update matches holds the lease until ``expires_at``. A dead
holder stops renewing, its lease expires, and the next process to ask takes over.

Each running process also keeps a **claim** (table ``process_claims``), renewed by its
loop's heartbeat: orders remember the process that placed them
(``placed_by``), and reconciliation may settle a young ``pending`` order at once when
its placing process's claim has expired, since that call can no longer be in flight.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lts.database import write_transaction
from lts.models import ProcessClaim, SchedulerLease

TICK_LEASE = "tick"
_PROCESS_HOLDER: dict[int, str] = {}
_PLACING: set[int] = set()
_PLACING_LOCK = threading.Lock()


def make_holder_id() -> str:
    """Return a holder id unique to this process (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_holder_id() -> str:
    """Return the id of this process for claims and ``orders.placed_by`` (new after a fork)."""
    pid = os.getpid()
    holder = _PROCESS_HOLDER.get(pid)
    if holder is None:
        holder = _PROCESS_HOLDER[pid] = make_holder_id()
    return holder


def placing_here(order_id: int) -> bool:
    """Whether a placing call of this process is between ``pending`` and its booking."""
    with _PLACING_LOCK:
        return order_id in _PLACING


@contextlib.contextmanager
def placing(order_id: int) -> Iterator[None]:
    """List ``order_id`` as in flight in this process for the duration of the block."""
    with _PLACING_LOCK:
        _PLACING.add(order_id)
    try:
        yield
    finally:
        with _PLACING_LOCK:
            _PLACING.discard(order_id)


def renew_claim(session: Session, holder: str, now: datetime, ttl_seconds: float) -> None:
    """Say ``holder`` is alive until ``now + ttl_seconds`` (insert or move its claim)."""
    expires = now + timedelta(seconds=ttl_seconds)
    try:
        with write_transaction(session):
            result = session.execute(
                update(ProcessClaim).where(ProcessClaim.holder == holder)
                .values(expires_at=expires)
                .execution_options(synchronize_session=False))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                session.add(ProcessClaim(holder=holder, expires_at=expires))
    except IntegrityError:
        pass  # inserted by this very process's other thread: it is renewed either way


def end_claim(session: Session, holder: str, now: datetime) -> None:
    """Mark ``holder``'s claim expired (clean shutdown): its orders are no longer in flight."""
    with write_transaction(session):
        session.execute(update(ProcessClaim).where(ProcessClaim.holder == holder)
                        .values(expires_at=now)
                        .execution_options(synchronize_session=False))


def lost_claims(session: Session, holders: Collection[str], now: datetime) -> set[str]:
    """The ``holders`` whose claim exists and has expired: their processes are gone.

    A holder without a claim (a process with no loop, a CLI command) is not in the
    answer: nothing is known of it, so its orders wait for the age rule.
    """
    if not holders:
        return set()
    return set(session.execute(select(ProcessClaim.holder).where(
        ProcessClaim.holder.in_(list(holders)), ProcessClaim.expires_at < now)).scalars())


def purge_claims(session: Session, before: datetime) -> int:
    """Delete claims that expired before ``before`` (housekeeping)."""
    with write_transaction(session):
        result = session.execute(delete(ProcessClaim).where(ProcessClaim.expires_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
