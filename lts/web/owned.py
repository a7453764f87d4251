"""One owned object for a view: the service loader's answer, a miss as the HTTP 404.

Pages and the API load single objects through :func:`lts.services.access.load_owned`
(bounded ids, the aaa plugin asked, refusals audited); this adapter only turns its
NotFound into ``abort(404)``, which the error handlers render as a page or JSON.
"""

from __future__ import annotations

from typing import Any

from flask import abort

from lts.errors import NotFound
from lts.security.authz import client_ip
from lts.services.access import load_owned
from lts.web.request import optional_actor


def get_owned_or_404(model: type, object_id: Any, action: str = "read") -> Any:
    """``model`` ``object_id`` if the current user may ``action`` it, else a 404."""
    try:
        return load_owned(model, object_id, optional_actor(), action, ip=client_ip())
    except NotFound:
        abort(404)
