"""Finding 10: users see a message and an error id, never the server's internals.

A real tick on a CSV asset whose file is missing records the error with the absolute
path and the call chain. The owner's overview and asset pages show the message with
the file name only and an error id; an admin opens the id for everything; the log
keeps everything. The loop status shows host name and PID to admins only.
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from lts.models import AuditLog
from lts.models.types import utcnow
from lts.services.error_display import public_message
from lts.trading.lease import make_holder_id, try_acquire
from lts.trading.loop import run_tick
from lts.trading.status import ERROR_ACTIONS
from tests.factories import gen_asset, gen_portfolio, gen_user

CHAIN = re.compile(r"\w+\.py:\d+")


@pytest.mark.parametrize(("text", "shown"), [
    ("PluginError: CSV file /srv/lts/data/EURUSD.csv not found "
     "(at csv.py:97 get <- csv.py:260 snapshot)", "PluginError: CSV file EURUSD.csv not found"),
    ("OSError: [Errno 13] Permission denied: '/home/lts/.ssh/id_rsa'",
     "OSError: [Errno 13] Permission denied: 'id_rsa'"),
    ("cannot read C:\\lts\\data\\x.csv", "cannot read x.csv"),
    ("no price for EUR/USD at http://broker.example/v3/prices",
     "no price for EUR/USD at http://broker.example/v3/prices"),
    ("ratio 1/2 is not allowed", "ratio 1/2 is not allowed"),
])
def test_public_message_cuts_paths_and_call_chains(text: str, shown: str) -> None:
    assert public_message(text) == shown


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "secret-server-folder" / "market-data"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def app_overrides(data_dir):
    return {"data_dir": str(data_dir)}


@pytest.fixture
def failed(app, db, data_dir, caplog):
    """A user's CSV asset whose file is missing, after one real tick."""
    owner = gen_user("csvowner")
    asset = gen_asset(gen_portfolio(owner), "EURUSD", pipeline_plugin="csv",
                      pipeline_config={"file": "EURUSD.csv"})
    with caplog.at_level(logging.WARNING):
        run_tick(app)
    db.session.expire_all()
    row = db.session.scalar(select(AuditLog).where(AuditLog.action.in_(ERROR_ACTIONS)))
    assert row is not None and str(data_dir) in str(row.details)  # recorded whole
    return owner, asset, row


def test_the_owner_sees_a_message_and_an_id_without_internals(client, failed, data_dir,
                                                              login_as) -> None:
    owner, asset, row = failed
    login_as(owner)
    for path in ("/", f"/assets/{asset.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "EURUSD.csv" in page and f"E{row.id}" in page, path
        assert str(data_dir) not in page and "secret-server-folder" not in page, path
        assert not CHAIN.search(page.split("</main>")[0].split("<main")[-1]), path
        assert f"/admin/errors/{row.id}" not in page, path


def test_an_admin_opens_the_error_id_for_everything(client, failed, data_dir,
                                                    login_as) -> None:
    _owner, _asset, row = failed
    login_as(gen_user("erroradmin", role="admin"))
    overview = client.get("/").get_data(as_text=True)
    assert f"/admin/errors/{row.id}" in overview
    detail = client.get(f"/admin/errors/{row.id}")
    assert detail.status_code == 200
    assert str(data_dir) in detail.get_data(as_text=True)
    assert client.get("/admin/errors/999999").status_code == 404


def test_users_cannot_open_error_details(client, failed, login_as) -> None:
    owner, _asset, row = failed
    login_as(owner)
    assert client.get(f"/admin/errors/{row.id}").status_code == 403


def test_the_log_keeps_everything(failed, data_dir, caplog) -> None:
    logged = "\n".join(record.getMessage() for record in caplog.get_records("setup"))
    assert str(data_dir) in logged


def test_a_failing_chart_shows_a_message_and_an_id(client, failed, data_dir, login_as,
                                                   caplog) -> None:
    owner, asset, _row = failed
    login_as(owner)
    with caplog.at_level(logging.WARNING, logger="lts.errors"):
        page = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    match = re.search(r"error id (L[0-9a-f]{8})", page)
    assert match and str(data_dir) not in page
    assert match.group(1) in caplog.text and str(data_dir) in caplog.text


def test_loop_leader_host_and_pid_are_for_admins_only(app, client, db, auth_headers) -> None:
    holder = make_holder_id()
    assert try_acquire(db.session(), holder, utcnow(), 60)
    db.session.commit()
    user = client.get("/api/v1/loop", headers=auth_headers(gen_user("plain")))
    admin = client.get("/api/v1/loop", headers=auth_headers(gen_user("boss", role="admin")))
    assert admin.get_json()["leader"] == holder
    assert user.get_json()["leader"] == "a server process"
    assert holder not in user.get_data(as_text=True)
