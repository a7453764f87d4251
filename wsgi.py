"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``.

Each worker imports this module after the fork (do not use ``--preload``: threads
and pooled connections must not cross a fork), so each starts the trading loop when
``loop_enabled`` is on; the database lease lets exactly one of them tick.
"""

from lts import create_app
from lts.server import freeze_startup_objects

app = create_app(start_loop=True)
freeze_startup_objects()
