"""Delivering password-reset links: by SMTP when configured, else an admin prints one.

Whatever happens here, the page and the API answer the same sentence, so nobody learns
whether an account exists. Two more rules keep that true (issue 11):

* the link is built from the ``public_url`` setting, never from the request's Host
  header (finding 1);
* the mail leaves after the response, from the app's outbox thread, so a known
  account answers as fast as an unknown one (finding 3).
"""

from __future__ import annotations

import functools
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import current_app

from lts.database import write_transaction
from lts.extensions import db
from lts.models import User
from lts.plugins.aaa import current_aaa
from lts.plugins.aaa.base import unknown_name_digest
from lts.security.hosts import public_link
from lts.services.outbox import outbox

RESET_SUBJECT = "Reset your LTS password"
SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ResetMail:
    """What the outbox needs to mail one link: plain values, no ORM object across threads."""

    user_id: int
    username: str
    email: str
    link: str


def smtp_configured(settings: Mapping[str, Any]) -> bool:
    """Whether mail can be sent (``smtp_host`` and ``smtp_from`` are set)."""
    return bool(settings.get("smtp_host") and settings.get("smtp_from"))


def reset_link(token: str) -> str:
    """The absolute reset link for ``token``, on ``public_url``."""
    return public_link("auth.reset_password", token=token)


def send_reset_mail(settings: Mapping[str, Any], mail: ResetMail) -> None:
    """Mail the link of ``mail`` through the configured SMTP server."""
    message = EmailMessage()
    message["Subject"] = RESET_SUBJECT
    message["From"] = settings["smtp_from"]
    message["To"] = mail.email
    message.set_content(
        f"Hello {mail.username},\n\nsomeone asked to reset your LTS password. The link "
        f"below works once, for 30 minutes:\n\n{mail.link}\n\nIf it was not you, ignore "
        "this mail: your password stays as it is.\n")
    with smtplib.SMTP(settings["smtp_host"], settings["smtp_port"],
                      timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.get("smtp_starttls", True):
            smtp.starttls()
        if settings.get("smtp_user"):
            smtp.login(settings["smtp_user"], settings["smtp_password"])
        smtp.send_message(message)


def deliver_reset_mail(settings: Mapping[str, Any], mail: ResetMail, ip: str | None) -> str:
    """Send one queued reset mail (in the outbox thread) and audit how it went."""
    delivered = "smtp"
    try:
        send_reset_mail(settings, mail)
    except (OSError, smtplib.SMTPException):
        current_app.logger.exception("could not send the reset mail")
        delivered = "failed"
    # The write lock up front: requests write audit rows at the same time (SQLite).
    with write_transaction(db.session()):
        current_aaa().account(db.session.get(User, mail.user_id), "password_reset.mailed",
                              f"user:{mail.user_id}", {"delivered": delivered},
                              "error" if delivered == "failed" else "ok", ip=ip, commit=False)
    return delivered


def request_reset(identifier: str, *, ip: str | None = None) -> str:
    """Issue a reset link for ``identifier``, queue its mail when SMTP is set, audit it.

    Returns how it will be delivered (``queued``, ``none``, ``no_match``) for the audit
    trail only: callers answer the same message whatever this says. An identifier that
    matches nobody is audited as a keyed digest: people type passwords into it too.

    The lookup and the audit row share one transaction holding the write lock from its
    start: the outbox thread writes too, and on SQLite a read transaction that a writer
    overtook cannot become a write one ("database is locked").
    """
    aaa = current_aaa()
    settings = current_app.config["LTS"]
    mail: ResetMail | None = None
    with write_transaction(db.session()):
        issued = aaa.make_reset_token(identifier)
        if issued is None:
            digest = unknown_name_digest(current_app.config["SECRET_KEY"], identifier)
            aaa.account(None, "password_reset.requested", None,
                        {"identifier_digest": digest, "matched": False}, ip=ip, commit=False)
            return "no_match"
        user, token = issued
        if smtp_configured(settings):
            mail = ResetMail(user_id=user.id, username=user.username, email=user.email,
                             link=reset_link(token))
        aaa.account(user, "password_reset.requested", f"user:{user.id}",
                    {"delivered": "queued" if mail else "none"}, ip=ip, commit=False)
    if mail is None:
        return "none"
    outbox().submit(functools.partial(deliver_reset_mail, dict(settings), mail, ip))
    return "queued"
