"""Celery worker processes of LTS (issue 16): ``flask lts worker`` runs portfolio steps.

The tasks themselves and the leader's side live in :mod:`lts.trading.fanout`; this
package only starts a worker around the Flask app, so every step runs with the app's
configuration, database and plugins.
"""
