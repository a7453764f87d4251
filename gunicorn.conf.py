"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value comes from the LTS settings (``LTS_*`` environment variables, validated by
lts.config exactly as ``flask lts run`` validates them), through the same
:func:`lts.server.gunicorn_options`, so both ways of serving behave alike:

- ``LTS_HOST``/``LTS_PORT`` (bind), ``LTS_WEB_WORKERS``, ``LTS_WEB_THREADS`` (gthread),
- ``LTS_WEB_TIMEOUT`` (silent worker killed), ``LTS_WEB_GRACEFUL_TIMEOUT`` (a stopping
  worker answers its requests, finishes the portfolio its loop steps, releases the lease),
- ``LTS_WEB_KEEPALIVE``, ``LTS_FORWARDED_ALLOW_IPS`` (the reverse proxy's address),
  ``LTS_LIMIT_REQUEST_LINE``,
- ``LTS_LOG_FORMAT`` (text or json), ``LTS_LOG_LEVEL``, ``LTS_ACCESS_LOG`` (access lines
  carry the request id).

The app is built in each worker after the fork (no preload): database pools and the
trading loop's threads never cross a fork. A bad variable stops gunicorn at once with
a message naming it.
"""

import os
import sys

from lts.config import ConfigError, ConfigSources, merge_config
from lts.plugins.registry import SettingsDiscovery
from lts.server import gunicorn_options

try:
    # Plugins may declare settings of their own (LTS_OANDA_...): discovery knows them.
    _settings = merge_config(ConfigSources(environ=os.environ),
                             plugin_settings=SettingsDiscovery())
except ConfigError as _exc:
    sys.exit(f"gunicorn.conf.py: {_exc}")

# gunicorn reads this module's globals: one per option.
globals().update(gunicorn_options(_settings))
wsgi_app = "wsgi:app"
