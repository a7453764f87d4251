"""Idempotency keys: a retried order-creating request never places a second order.

A client sends ``Idempotency-Key`` with a POST that creates an order (SPEC 2a). The
first request with a key *claims* it (a row without an answer), runs, and stores its
answer; a later request with the same key and the same request gets that answer back,
byte for byte; one sent while the first still runs waits for it. The same key with
another request is refused (422), so a client's bug cannot be mistaken for a retry.

The claim is committed before the order is placed, and the answer after: a crash in
between leaves the key claimed, so retries are told it is in use (409) and never run
again; the order itself is then found with ``GET /orders?client_order_id=`` or
``?source=manual&updated_since=``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from lts.database import write_transaction
from lts.errors import Refused, ValidationFailed
from lts.extensions import db
from lts.models.idempotency import IDEMPOTENCY_TTL, MAX_KEY_LENGTH, IdempotencyKey
from lts.models.types import utcnow
from lts.models.user import User
from lts.services.access import record

HEADER = "Idempotency-Key"
# Printable ASCII only: the key is echoed in errors and logs, and compared byte for byte.
_PRINTABLE = frozenset(range(0x20, 0x7F))
DEFAULT_WAIT_SECONDS = 30.0
_FIRST_POLL, _MAX_POLL = 0.01, 0.2
# A lost insert race is followed by a read that finds the winner's row; failing to find
# it again and again means the insert fails for another reason: stop, do not spin.
_MAX_LOST_RACES = 3


class IdempotencyKeyReused(ValidationFailed):
    """The key was first sent with another request: a client bug, not a retry."""

    code = "idempotency_key_reused"


class IdempotencyKeyInUse(Refused):
    """The first request with this key is still running (or died without an answer)."""

    status = 409
    code = "idempotency_key_in_use"


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests "the same": method, path and the body's SHA-256."""

    method: str
    path: str
    body_sha256: str


@dataclass(frozen=True)
class Answer:
    """A stored answer to replay: the status code and the exact body text."""

    status_code: int
    body: str


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: run the request, or replay ``answer`` if set."""

    row_id: int
    answer: Answer | None = None


@dataclass(frozen=True)
class _Seen:
    """A plain copy of a key's row, read in one transaction (no ORM object escapes it)."""

    row_id: int
    fingerprint: Fingerprint
    answer: Answer | None

    @classmethod
    def of(cls, row: IdempotencyKey) -> _Seen:
        """Copy what matters of ``row`` before its transaction ends."""
        answer = None
        if row.completed_at is not None and row.status_code is not None:
            answer = Answer(row.status_code, row.response_body or "")
        return cls(row.id, Fingerprint(row.method, row.path, row.body_sha256), answer)


def check_key(key: str) -> None:
    """Refuse a key that is empty, longer than 255 or not printable ASCII (422 naming it)."""
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(c) not in _PRINTABLE for c in key):
        raise ValidationFailed("the Idempotency-Key header is not valid", {
            HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"]})


def fingerprint(method: str, path: str, body: bytes) -> Fingerprint:
    """The request's fingerprint; a JSON body is hashed in canonical form.

    Canonical (sorted keys, no spaces) so that a client re-serialising the same body
    is still recognised as retrying, while any change of a value is not.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode("utf-8") if body else b""
    except (ValueError, RecursionError):
        canonical = body
    return Fingerprint(method.upper(), path, hashlib.sha256(canonical).hexdigest())


def claim(actor: User, key: str, request: Fingerprint, *, ip: str | None = None,
          now: datetime | None = None, wait_seconds: float = DEFAULT_WAIT_SECONDS,
          sleep: Callable[[float], None] = time.sleep,
          monotonic: Callable[[], float] = time.monotonic) -> Claim:
    """Claim ``key`` for this request, or get the answer of the request that holds it.

    Raises IdempotencyKeyReused when the key was first sent with another request, and
    IdempotencyKeyInUse when the first request has not answered within ``wait_seconds``.
    An answer older than 24 h is forgotten: the key then starts afresh. A replay and
    both refusals are audited (``idempotency.*``); a claim is not, being bookkeeping of
    a request whose own outcome the service it calls audits.
    """
    now = now or utcnow()
    deadline = monotonic() + wait_seconds
    pause = _FIRST_POLL
    lost_races = 0
    while True:
        seen = _read(actor.id, key, now)
        if seen is None:
            row_id = _insert(actor.id, key, request, now)
            if row_id is not None:
                return Claim(row_id)
            lost_races += 1
            if lost_races > _MAX_LOST_RACES:
                raise RuntimeError(f"could not claim idempotency key for user {actor.id}")
            continue  # another request inserted it first: read what it is
        if seen.fingerprint != request:
            _audit(actor, "idempotency.key_reused", seen, request, "denied", ip)
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with another request",
                {HEADER: [f"already used for {seen.fingerprint.method} "
                          f"{seen.fingerprint.path} with another body"]})
        if seen.answer is not None:
            _audit(actor, "idempotency.replayed", seen, request, "ok", ip)
            return Claim(seen.row_id, seen.answer)
        if monotonic() >= deadline:
            _audit(actor, "idempotency.key_in_use", seen, request, "denied", ip)
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is still running; retry later",
                headers={"Retry-After": "1"})
        sleep(pause)
        pause = min(pause * 2, _MAX_POLL)


def _audit(actor: User, action: str, seen: _Seen, request: Fingerprint, outcome: str,
           ip: str | None) -> None:
    """Audit what was done with a key: which request came, what the key had answered."""
    session = db.session()
    with write_transaction(session):
        record(actor, action, f"idempotency_key:{seen.row_id}", {
            "method": request.method, "path": request.path,
            "first_path": seen.fingerprint.path,
            "status_code": seen.answer.status_code if seen.answer is not None else None,
        }, outcome, ip=ip, commit=False)


def _read(user_id: int, key: str, now: datetime) -> _Seen | None:
    """The key's row as committed now (a fresh read each poll); None if absent or expired."""
    session = db.session()
    try:
        row = session.scalar(select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))
        if row is None or row.created_at <= now - IDEMPOTENCY_TTL:
            return None
        return _Seen.of(row)
    finally:
        session.commit()  # end the read: the next poll must see newer commits


def _insert(user_id: int, key: str, request: Fingerprint, now: datetime) -> int | None:
    """Insert the claim (replacing an expired row); None when a concurrent claim won."""
    session = db.session()
    try:
        with write_transaction(session):
            session.execute(delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key,
                IdempotencyKey.created_at <= now - IDEMPOTENCY_TTL))
            row = IdempotencyKey(user_id=user_id, key=key, method=request.method,
                                 path=request.path, body_sha256=request.body_sha256,
                                 created_at=now)
            session.add(row)
            session.flush()
            row_id = row.id
        return row_id
    except IntegrityError:
        return None  # the unique (user_id, key) caught a concurrent first request


def finish(row_id: int, status_code: int, body: str, *, keep: bool,
           now: datetime | None = None) -> None:
    """Store the answer to replay (``keep``), or release the key for a later retry."""
    session = db.session()
    with write_transaction(session):
        if keep:
            session.execute(update(IdempotencyKey).where(IdempotencyKey.id == row_id).values(
                status_code=status_code, response_body=body, completed_at=now or utcnow()))
        else:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))

