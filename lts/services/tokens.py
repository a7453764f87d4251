"""API tokens as the profile page and ``/api/v1/auth/tokens`` list them."""

from __future__ import annotations

from sqlalchemy import select

from lts.extensions import db
from lts.models import User, UserSession
from lts.services.access import scoped


def list_tokens(actor: User) -> list[UserSession]:
    """The actor's own API tokens, newest first, as far as the aaa plugin lets them see.

    Everyone manages only their own tokens (an administrator revokes other people's
    access by deactivating the account); the list scope still applies, so a policy
    that hides tokens hides them here too.
    """
    statement = (select(UserSession)
                 .where(UserSession.user_id == actor.id, UserSession.kind == "api")
                 .order_by(UserSession.created_at.desc()))
    return list(db.session.scalars(scoped(statement, actor, "token")))
