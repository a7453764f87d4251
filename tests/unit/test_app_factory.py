"""create_app: per-app configuration, the instance secret key, and settings mapping."""

from __future__ import annotations

import stat

import pytest

from lts import create_app
from lts.config import ConfigError


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    instance = tmp_path / "instance"
    settings = {"database_url": f"sqlite:///{tmp_path / 'a.db'}"}
    first = create_app(settings, instance_path=instance)
    second = create_app(settings, instance_path=instance)
    key_file = instance / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64


def test_configured_secret_key_wins_and_writes_no_file(tmp_path):
    app = create_app({"secret_key": "configured-key", "database_url": "sqlite:///:memory:"},
                     instance_path=tmp_path / "i")
    assert app.config["SECRET_KEY"] == "configured-key"
    assert not (tmp_path / "i" / "secret_key").exists()


def test_relative_sqlite_path_is_resolved_against_the_project(tmp_path):
    from lts import PROJECT_ROOT

    app = create_app({"database_url": "sqlite:///instance/test-resolve.db"},
                     instance_path=tmp_path / "i")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == \
        f"sqlite:///{PROJECT_ROOT / 'instance' / 'test-resolve.db'}"


def test_bad_override_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match="overrides: key 'port'"):
        create_app({"port": "80"}, instance_path=tmp_path / "i")


def test_each_app_keeps_its_own_settings(tmp_path):
    a = create_app({"port": 1111, "database_url": "sqlite:///:memory:"}, instance_path=tmp_path)
    b = create_app({"port": 2222, "database_url": "sqlite:///:memory:"}, instance_path=tmp_path)
    assert (a.config["LTS"]["port"], b.config["LTS"]["port"]) == (1111, 2222)
    assert a.config["SESSION_COOKIE_HTTPONLY"] is True
    assert a.config["SESSION_COOKIE_SAMESITE"] == "Lax"
