"""Plugin versions, `flask lts plugins --check`, and reloading plugins without a restart.

Distributions are written into a fresh site folder the way an installer leaves them
(see tests/integration/test_plugin_registry.py), before or after the app starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from lts.cli import lts
from lts.models import AuditLog
from lts.plugins.registry import get_registry, lts_version, reload_registry
from lts.trading.plugin_source import RegistryPluginSource
from tests.conftest import make_test_app
from tests.factories import gen_user
from tests.helpers import csrf_token
from tests.integration.test_plugin_registry import (  # noqa: F401  (the site fixture)
    GOOD,
    install_distribution,
    site,
    unique,
)

SIX_KINDS = {"aaa", "core", "pipeline", "strategy", "broker", "portfolio"}


def install_always_buy(folder: Path, version: str = "1.0") -> str:
    """Install the ``always_buy`` strategy as distribution ``lts-always-buy``."""
    module = unique("lts_always_buy")
    install_distribution(folder, "lts-always-buy", module, GOOD,
                         {"lts.strategy": {"always_buy": f"{module}:AlwaysBuy"}})
    if version != "1.0":
        set_version(folder, version)
    return module


def set_version(folder: Path, version: str) -> None:
    """Rewrite the installed distribution's version, as an upgrade would."""
    (metadata,) = folder.glob("lts_always_buy-*.dist-info/METADATA")
    metadata.write_text(f"Metadata-Version: 2.1\nName: lts-always-buy\nVersion: {version}\n")


def install_broken(folder: Path) -> None:
    """Install a distribution whose plugin cannot be imported."""
    module = unique("broken_import")
    (folder / f"{module}.py").write_text("import definitely_missing_module\n")
    install_distribution(folder, "lts-broken", unique("unused"), "",
                         {"lts.pipeline": {"broken": f"{module}:Pipe"}})


@pytest.fixture
def installed_before_start(site: Path, app) -> Path:  # type: ignore[no-untyped-def]  # noqa: F811
    """``always_buy`` 1.0 installed, and the app's plugins discovered since."""
    install_always_buy(site)
    reload_registry(app)
    return site


# ----------------------------------------------------------------------------- CLI


def cli_runner(database_path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A CLI runner on an app built now, as `flask lts` builds one per command."""
    return make_test_app(f"sqlite:///{database_path}", tmp_path).test_cli_runner()


def test_cli_lists_six_kinds_with_versions_and_check_passes(site, database_path,  # noqa: F811
                                                            tmp_path):
    install_always_buy(site, "2.3.1")
    result = cli_runner(database_path, tmp_path).invoke(lts, ["plugins", "--check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert {line.split()[0] for line in lines if line.strip()} == SIX_KINDS
    (always_buy,) = [line for line in lines if " always_buy " in line]
    assert "entry point lts-always-buy" in always_buy and " 2.3.1 " in always_buy
    (aaa,) = [line for line in lines if line.startswith("aaa ")]
    assert f" {lts_version()} " in aaa and "builtin" in aaa
    (csv,) = [line for line in lines if " csv " in line]
    assert csv.endswith("settings: data_dir")


def test_cli_check_exits_non_zero_when_a_plugin_failed_to_load(site, database_path,  # noqa: F811
                                                                tmp_path):
    install_broken(site)
    runner = cli_runner(database_path, tmp_path)
    listed = runner.invoke(lts, ["plugins"])
    assert listed.exit_code == 0 and "1 plugin(s) failed to load" in listed.output
    checked = runner.invoke(lts, ["plugins", "--check"])
    assert checked.exit_code == 1
    assert "pipeline plugin 'broken'" in checked.output
    assert "definitely_missing_module" in checked.output


# ----------------------------------------------------------------------------- API


def test_api_lists_six_kinds_with_versions(installed_before_start, client, db, auth_headers):
    body = client.get("/api/v1/plugins", headers=auth_headers(gen_user())).get_json()
    assert {item["kind"] for item in body["items"]} == SIX_KINDS
    (item,) = [i for i in body["items"] if i["name"] == "always_buy"]
    assert (item["version"], item["interface_version"]) == ("1.0", "1.0")
    (aaa,) = [i for i in body["items"] if i["kind"] == "aaa"]
    assert aaa["name"] == "default" and aaa["version"] == lts_version()
    assert "lockout_minutes" in aaa["settings"]
    (csv,) = [i for i in body["items"] if i["name"] == "csv"]
    assert csv["settings"] == ["data_dir"] and item["settings"] == []


def test_reload_finds_a_distribution_installed_after_start(site, app, client, db,  # noqa: F811
                                                           auth_headers):
    admin = auth_headers(gen_user("root", role="admin"))
    source = RegistryPluginSource(app)
    source.get("strategy", "sma_cross", {})
    assert "always_buy" not in get_registry(app).names("strategy")
    install_always_buy(site)

    response = client.post("/api/v1/plugins/reload", headers=admin)

    assert response.status_code == 200, response.get_json()
    assert "always_buy" in {item["name"] for item in response.get_json()["items"]}
    assert "always_buy" in get_registry(app).names("strategy")
    plugin = source.get("strategy", "always_buy", {"size": 2})  # the engine's source follows
    assert plugin.config["size"] == 2.0
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "plugins.reload")).one()
    assert row.outcome == "ok" and row.details["loaded"] == len(get_registry(app).infos())


def test_reload_is_for_admins_only_and_refusals_are_audited(client, db, auth_headers):
    before = get_registry(client.application)
    response = client.post("/api/v1/plugins/reload", headers=auth_headers(gen_user()))
    assert response.status_code == 403
    assert get_registry(client.application) is before
    denied = db.session.scalars(select(AuditLog).where(AuditLog.outcome == "denied")).all()
    assert denied


def test_reload_reports_an_upgrade_whose_old_code_still_runs(installed_before_start, app,
                                                             client, db, auth_headers):
    assert get_registry(app).info("strategy", "always_buy").version == "1.0"
    set_version(installed_before_start, "1.1")
    admin = auth_headers(gen_user("root", role="admin"))

    body = client.post("/api/v1/plugins/reload", headers=admin).get_json()

    (error,) = [e for e in body["errors"] if e["name"] == "always_buy"]
    assert "1.1 is installed but 1.0 is still running" in error["message"]
    assert "restart" in error["message"]


# --------------------------------------------------------------------------- page


def test_admin_page_shows_versions_and_reloads_with_its_button(site, app, client, db,  # noqa: F811
                                                                login_as):
    login_as(gen_user("root", role="admin"))
    page = client.get("/admin/plugins").get_data(as_text=True)
    assert 'id="reload-plugins"' in page and "always_buy" not in page
    assert f'<span class="plugin-version">{lts_version()}</span>' in page
    assert "<code>lockout_minutes</code>" in page  # the aaa plugin's declared settings
    install_always_buy(site, "3.0")

    response = client.post("/admin/plugins/reload",
                           data={"csrf_token": csrf_token(client, "/admin/plugins")})

    assert response.status_code == 303 and response.headers["Location"] == "/admin/plugins"
    page = client.get("/admin/plugins").get_data(as_text=True)
    assert "always_buy" in page and '<span class="plugin-version">3.0</span>' in page
    assert "Plugins reloaded" in page


def test_users_cannot_reload_from_the_page(app, client, db, login_as):
    login_as(gen_user())
    before = get_registry(app)
    response = client.post("/admin/plugins/reload",
                           data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code in (302, 303, 403)
    assert get_registry(app) is before


# ------------------------------------------------------------- several processes


def test_a_reload_reaches_every_process_sharing_the_database(site, app, client, db,  # noqa: F811
                                                             auth_headers, database_path,
                                                             tmp_path):
    # A second app on the same database file stands for another gunicorn worker (or the
    # loop process); it checks for reloads on every use here instead of every 5 s.
    other = make_test_app(f"sqlite:///{database_path}", tmp_path / "other",
                          LTS_PLUGIN_SYNC_SECONDS=0)
    other_source = RegistryPluginSource(other)
    with other.app_context():
        other_source.get("strategy", "sma_cross", {})  # its registry is in use
    admin = auth_headers(gen_user("root", role="admin"))
    install_always_buy(site)
    assert client.post("/api/v1/plugins/reload", headers=admin).status_code == 200

    with other.app_context():
        plugin = other_source.get("strategy", "always_buy", {})
    assert plugin.name == "always_buy"
    listed = other.test_client().get("/api/v1/plugins", headers=admin).get_json()
    assert "always_buy" in {item["name"] for item in listed["items"]}
    with other.app_context():
        from lts.extensions import db as other_db

        other_db.engine.dispose()
