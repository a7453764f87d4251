"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from lts import create_app

app = create_app()
