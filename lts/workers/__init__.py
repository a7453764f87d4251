"""Celery worker processes of LTS (issue 16): ``flask lts worker`` runs portfolio steps.

The leader's side (claims, sending steps by task name, waiting) lives in
:mod:`lts.trading.fanout`; here :mod:`~lts.workers.steps` registers the step task and
runs each step under the tick's claim, and :mod:`~lts.workers.worker` starts a worker
around the Flask app, so every step runs with the app's configuration, database and
plugins.
"""
