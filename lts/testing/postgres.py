"""A fresh PostgreSQL schema for one test or benchmark run, dropped afterwards.

Used by the test suite's ``postgres_url`` fixture and by ``bench/scale_bench.py``: a
run gets its own ``search_path``, so runs never see each other's tables.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def fresh_schema(base_url: str, prefix: str = "lts_test") -> Iterator[str]:
    """A URL on a new schema ``<prefix>_<random>`` of ``base_url``; dropped on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
