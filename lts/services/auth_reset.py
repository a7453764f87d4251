"""Delivering password-reset links: by SMTP when configured, else an admin prints one.

Whatever happens here, the page and the API answer the same sentence, so nobody learns
whether an account exists.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any

from flask import current_app

from lts.models import User
from lts.plugins.aaa import current_aaa

RESET_SUBJECT = "Reset your LTS password"


def smtp_configured(settings: Mapping[str, Any]) -> bool:
    """Whether mail can be sent (``smtp_host`` and ``smtp_from`` are set)."""
    return bool(settings.get("smtp_host") and settings.get("smtp_from"))


def send_reset_mail(settings: Mapping[str, Any], user: User, link: str) -> None:
    """Mail ``link`` to ``user`` through the configured SMTP server."""
    message = EmailMessage()
    message["Subject"] = RESET_SUBJECT
    message["From"] = settings["smtp_from"]
    message["To"] = user.email
    message.set_content(
        f"Hello {user.username},\n\nsomeone asked to reset your LTS password. The link "
        f"below works once, for 30 minutes:\n\n{link}\n\nIf it was not you, ignore this "
        "mail: your password stays as it is.\n")
    with smtplib.SMTP(settings["smtp_host"], settings["smtp_port"], timeout=10) as smtp:
        if settings.get("smtp_starttls", True):
            smtp.starttls()
        if settings.get("smtp_user"):
            smtp.login(settings["smtp_user"], settings["smtp_password"])
        smtp.send_message(message)


def request_reset(identifier: str, link_for: Callable[[str], str], *,
                  ip: str | None = None) -> str:
    """Issue a reset link for ``identifier``, mail it when SMTP is set, audit it.

    Returns how it was delivered (``smtp``, ``none``, ``failed``, ``no_match``) for the
    audit trail only: callers answer the same message whatever this says.
    """
    aaa = current_aaa()
    settings = current_app.config["LTS"]
    issued = aaa.make_reset_token(identifier)
    if issued is None:
        aaa.account(None, "password_reset.requested", None,
                    {"identifier": identifier, "matched": False}, ip=ip)
        return "no_match"
    user, token = issued
    delivered = "none"
    if smtp_configured(settings):
        try:
            send_reset_mail(settings, user, link_for(token))
            delivered = "smtp"
        except (OSError, smtplib.SMTPException):
            current_app.logger.exception("could not send the reset mail")
            delivered = "failed"
    aaa.account(user, "password_reset.requested", f"user:{user.id}", {"delivered": delivered},
                "error" if delivered == "failed" else "ok", ip=ip)
    return delivered
