"""``/healthz`` (liveness: the process serves) and ``/readyz`` (readiness: it can work).

Until issue 16, ``/healthz`` checked the database and its migrations: that check is now
``/readyz``, whose body keeps the old ``database`` and ``migration`` keys, so a probe
that parsed them only changes its path. ``/healthz`` costs nothing: no database, no
network, so a slow database never gets healthy workers restarted.
"""

from flask import Blueprint

bp = Blueprint("health", __name__)

from lts.blueprints.health import routes  # noqa: E402,F401  (routes attach to bp)
