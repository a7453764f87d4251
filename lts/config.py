"""Layered configuration: one declared list of settings, merged from five sources.

Merge order, later wins (SPEC section 4): built-in defaults < ``--load-config``
JSON file < ``LTS_*`` environment < ``--set key=value`` < ``--remote-config URL``.
Runtime keys may then be overridden by rows of the Config table; that lookup lives
in :mod:`lts.runtime_config` because this module must not touch the database.

Every value is validated once, here. A bad value never reaches the app: the merge
raises :class:`ConfigError` naming the source and the key, and the caller exits.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "LTS_"
# Variables of the test tooling, not settings (LTS_SCREENSHOTS=1: browser screenshots).
TOOLING_VARIABLES = frozenset({"LTS_SCREENSHOTS"})
MASK = "********"

log = logging.getLogger("lts.config")


class ConfigError(ValueError):
    """A configuration source holds something unusable; the message names source and key."""


@dataclass(frozen=True)
class Setting:
    """One declared configuration key: its type, default and limits."""

    key: str
    type: type
    default: Any
    description: str
    secret: bool = False
    runtime: bool = False
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


_SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", str, "sqlite:///instance/lts.db",
            "SQLAlchemy URL; relative SQLite paths are relative to the project folder."),
    Setting("secret_key", str, "", "Flask secret key; generated into the instance folder "
            "on first run when empty.", secret=True),
    Setting("global_latency", float, 1.0, "Minutes between two ticks of the trading loop.",
            runtime=True, minimum=0.001),
    Setting("default_portfolio_latency", int, 60,
            "Minutes between two executions of a new portfolio.", runtime=True, minimum=1),
    Setting("loop_enabled", bool, True, "Run the trading loop inside this process."),
    Setting("host", str, "127.0.0.1", "Address the web server listens on."),
    Setting("port", int, 8000, "Port the web server listens on.", minimum=1, maximum=65535),
    Setting("web_workers", int, 1, "gunicorn worker processes for `flask lts run`.", minimum=1),
    Setting("web_threads", int, 4, "Threads per gunicorn worker.", minimum=1),
    Setting("registration_open", bool, False, "Let visitors create their own account.",
            runtime=True),
    Setting("session_idle_minutes", int, 30, "Browser sessions end after this idle time.",
            minimum=1),
    Setting("session_lifetime_hours", int, 12, "Browser sessions end this long after login.",
            minimum=1),
    Setting("session_cookie_secure", bool, True,
            "Send cookies only over HTTPS; turn off for plain-HTTP local use."),
    Setting("remember_me_days", int, 0, "Remember-me cookie lifetime; 0 disables it.",
            minimum=0),
    Setting("token_ttl_hours", int, 720, "Default lifetime of API bearer tokens.", minimum=1),
    Setting("login_rate_limit", str, "10 per minute",
            "Flask-Limiter rate for login and token endpoints."),
    Setting("max_failed_logins", int, 5, "Failed logins before the account is locked.",
            minimum=1),
    Setting("lockout_minutes", int, 30, "How long a locked account stays locked.", minimum=1),
    Setting("redis_url", str, "",
            "Redis URL (redis://host:6379/0) for rate-limit counters shared by every worker "
            "and process (empty: per-process memory, right for one worker only)."),
    Setting("redis_key_prefix", str, "lts",
            "Prefix of LTS's Redis keys, so deployments can share one Redis."),
    Setting("smtp_host", str, "", "SMTP server for password-reset mail (empty: no mail)."),
    Setting("smtp_port", int, 587, "SMTP port.", minimum=1, maximum=65535),
    Setting("smtp_user", str, "", "SMTP user name."),
    Setting("smtp_password", str, "", "SMTP password.", secret=True),
    Setting("smtp_from", str, "", "Sender address of LTS mail."),
    Setting("smtp_starttls", bool, True, "Use STARTTLS with the SMTP server."),
    Setting("public_url", str, "",
            "Address people reach LTS at, e.g. https://lts.example.com; every link LTS "
            "sends (password-reset mail) is built from it, never from a request's Host. "
            "Required when smtp_host is set."),
    Setting("trusted_hosts", str, "",
            "Comma-separated host names requests may carry in their Host header; others "
            "answer 400. Empty: the host of public_url, localhost and 127.0.0.1."),
    Setting("reset_rate_limit", str, "3 per hour",
            "Flask-Limiter rate of password-reset requests per account (username/email)."),
    Setting("data_dir", str, "data", "Folder of CSV market data (relative to the project)."),
    Setting("aaa_plugin", str, "default", "Authentication/authorization/accounting plugin."),
    Setting("core_plugin", str, "default", "Core plugin that runs the trading loop."),
    Setting("safe_mode", bool, False, "Load built-in plugins only (third-party plugins off)."),
    Setting("plugins_generation", str, "",
            "Set anew by \"Reload plugins\": every LTS process re-discovers its plugins "
            "within seconds of seeing a new value.", runtime=True),
    Setting("plugin_timeout_seconds", float, 10.0,
            "A plugin call running longer fails that asset's step.", runtime=True,
            minimum=0.01),
    Setting("max_order_notional", float, None,
            "Largest notional (quantity x price) of one order; empty: no limit.",
            runtime=True, nullable=True, minimum=0),
    Setting("max_orders_per_minute", int, 60, "Orders one portfolio may send per minute.",
            runtime=True, minimum=1),
    Setting("flatten_on_kill", bool, False,
            "Close a portfolio's positions when its kill switch trips.", runtime=True),
    Setting("kill_switch", bool, False, "Global kill switch: no order is sent while on.",
            runtime=True),
    Setting("risk_state", str, "active",
            "Global risk state: active trades; reducing lets only closing orders and "
            "cancels through; halted sends no order (the same as the kill switch on).",
            runtime=True, choices=("active", "reducing", "halted")),
    Setting("loop_paused", bool, False,
            "Pause the trading loop: ticks are skipped until it is resumed.", runtime=True),
    Setting("lease_seconds", float, 30.0,
            "Lifetime of the scheduler lease; a dead leader is replaced after it.",
            minimum=1),
    Setting("log_level", str, "INFO", "Logging level.",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("max_content_length", int, 1_048_576, "Largest request body in bytes.",
            minimum=1024),
    Setting("cors_allowed_origins", str, "",
            "Origins (comma-separated, e.g. https://app.example.com) whose pages may call "
            "/api/ from a browser; empty: none (CORS off)."),
    # Deployment (issue 16): database pool, gunicorn, logs. Ignored where they do not apply
    # (the pool settings on SQLite, the gunicorn ones outside gunicorn).
    Setting("db_pool_size", int, 5,
            "Connections each process keeps open to PostgreSQL (not SQLite).", minimum=1),
    Setting("db_max_overflow", int, 10,
            "Extra PostgreSQL connections a process may open beyond db_pool_size under load.",
            minimum=0),
    Setting("db_pool_timeout", float, 30.0,
            "Seconds a request waits for a free PostgreSQL connection before failing.",
            minimum=0.1),
    Setting("db_pool_recycle", int, 1800,
            "Seconds after which a pooled connection is replaced (idle cut-offs by "
            "proxies and firewalls); -1 never.", minimum=-1),
    Setting("db_pool_pre_ping", bool, True,
            "Test each pooled connection before use, so a restarted database costs no "
            "failed request."),
    Setting("web_timeout", int, 60,
            "gunicorn: a worker silent this many seconds is killed and replaced.", minimum=1),
    Setting("web_graceful_timeout", int, 30,
            "gunicorn: seconds a stopping worker gets to answer its requests and finish the "
            "portfolio its loop is stepping (then the lease is released).", minimum=1),
    Setting("web_keepalive", int, 5, "gunicorn: seconds an idle keep-alive connection stays "
            "open (keep it below the reverse proxy's).", minimum=0),
    Setting("forwarded_allow_ips", str, "127.0.0.1,::1",
            "gunicorn: addresses whose X-Forwarded-For/-Proto headers are trusted (the "
            "reverse proxy's); '*' trusts everyone."),
    Setting("limit_request_line", int, 4094,
            "gunicorn: longest HTTP request line in bytes (larger requests get 414).",
            minimum=256, maximum=8190),
    Setting("log_format", str, "text",
            "Log lines as text (for people) or json (one object per line: time, level, "
            "logger, message, request_id, tick and portfolio ids).", choices=("text", "json")),
    Setting("log_file", str, None,
            "Also write every log line, as JSON, to this file (the admin log viewer reads "
            "its last lines); empty: no file.", nullable=True),
    Setting("access_log", bool, True,
            "gunicorn: write an access log line per request (with its request id)."),
    Setting("latency_unit_seconds", float, 60.0,
            "Seconds in one minute of portfolio_latency. 60 in production; system tests set "
            "about 1 to run many intervals in seconds.", minimum=0.05),
    # Celery fan-out (issue 16, `pip install lts-live-trading[workers]`): empty broker URL
    # keeps every portfolio step in the loop's process and never imports celery.
    Setting("celery_broker_url", str, "",
            "Celery broker (redis://host:6379/1 or amqp://user:pass@host:5672//): the "
            "loop's leader sends each claimed portfolio's step to `flask lts worker` "
            "processes. Empty: steps run in the loop's process.", secret=True),
    Setting("celery_result_backend", str, "",
            "Where workers put step results for the leader (empty: the broker's Redis, "
            "or rpc:// replies over RabbitMQ).", secret=True),
    Setting("celery_step_deadline_seconds", float, 300.0,
            "How long the leader waits for its tick's steps; a step without an answer by "
            "then is reported missing (it may still run later, under the same claim).",
            minimum=0.1),
    Setting("celery_visibility_timeout", float, 3600.0,
            "Redis broker: seconds before an unacknowledged step (its worker died) is "
            "redelivered; must exceed the step deadline, or a slow step would run twice "
            "at once.", minimum=1),
    Setting("celery_queue", str, "lts-steps", "Queue name of the portfolio steps."),
)

SETTINGS: dict[str, Setting] = {s.key: s for s in _SETTINGS}


def defaults() -> dict[str, Any]:
    """Return the built-in default of every setting."""
    return {s.key: s.default for s in _SETTINGS}


def _coerce_text(setting: Setting, raw: str) -> Any:
    """Turn the text of an environment variable or ``--set`` pair into the setting's type."""
    text = raw.strip()
    if setting.nullable and text.lower() in ("", "null", "none"):
        return None
    if setting.type is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true/false, got {raw!r}")
    if setting.type is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if setting.type is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    return raw


def _check_json_value(setting: Setting, value: Any) -> Any:
    """Check a value that came from JSON (file, remote, Config table) without coercion."""
    if value is None:
        if setting.nullable:
            return None
        raise ValueError("must not be null")
    if setting.type is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true/false, got {type(value).__name__}")
        return value
    if setting.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        return value
    if setting.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {type(value).__name__}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _check_limits(setting: Setting, value: Any) -> Any:
    """Enforce the declared minimum, maximum and choices."""
    if value is None:
        return value
    if setting.minimum is not None and value < setting.minimum:
        raise ValueError(f"must be >= {setting.minimum:g}, got {value}")
    if setting.maximum is not None and value > setting.maximum:
        raise ValueError(f"must be <= {setting.maximum:g}, got {value}")
    if setting.choices is not None and value not in setting.choices:
        raise ValueError(f"must be one of {', '.join(setting.choices)}, got {value!r}")
    return value


_HOST_NAME_RE = re.compile(r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _check_public_url(value: str) -> None:
    """An absolute http(s) URL with a host and no credentials, query or fragment."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http:// or https:// URL, got {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not hold credentials, a query or a fragment")


def _check_host_list(value: str) -> None:
    """Comma-separated host names; a leading dot also accepts every subdomain."""
    for name in split_host_list(value):
        if not _HOST_NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a host name (letters, digits, - and .)")


def split_host_list(value: str) -> list[str]:
    """The host names of a comma-separated ``trusted_hosts`` value, lower-cased."""
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def split_origins(value: str) -> list[str]:
    """The origins of a comma-separated ``cors_allowed_origins`` value (no trailing /)."""
    return [item.strip().rstrip("/") for item in value.split(",") if item.strip()]


def _check_origins(value: str) -> None:
    """Each origin is ``scheme://host[:port]``: no path, no wildcard (CORS matches exactly)."""
    for origin in split_origins(value):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
                or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")


def _check_rate(value: str) -> None:
    """A Flask-Limiter rate such as ``10 per minute`` (checked here, not at the first POST)."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"expected a rate such as '3 per hour', got {value!r}") from None


def _check_redis_url(value: str) -> None:
    """Empty, or a redis://, rediss:// or unix:// URL with a host or path."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError(f"expected redis://host:port/db (or rediss://, unix://), got "
                         f"{mask_url_password(value)!r}")


_FORWARDED_RE = re.compile(r"^[0-9a-fA-F:./]+$")


def _check_celery_url(value: str) -> None:
    """Empty, or a Redis or AMQP broker URL (what LTS's Celery fan-out supports)."""
    if not value:
        return
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
        raise ValueError(f"expected redis://host:6379/1 or amqp://user:pass@host:5672//, got "
                         f"{mask_url_password(value)!r}")


def _check_result_backend(value: str) -> None:
    """Empty, ``rpc://``, or a Redis URL."""
    if value and urlsplit(value).scheme not in ("rpc", "redis", "rediss"):
        raise ValueError(f"expected rpc:// or redis://host:6379/2, got "
                         f"{mask_url_password(value)!r}")


def _check_forwarded_ips(value: str) -> None:
    """``*`` or comma-separated addresses (gunicorn's forwarded_allow_ips)."""
    if value.strip() == "*":
        return
    for item in value.split(","):
        if not _FORWARDED_RE.match(item.strip()):
            raise ValueError(f"{item.strip()!r} is not an IP address (or use '*')")


# Settings whose text has a shape beyond its type.
_FORMAT_CHECKS: dict[str, Callable[[Any], None]] = {
    "public_url": _check_public_url,
    "trusted_hosts": _check_host_list,
    "reset_rate_limit": _check_rate,
    "redis_url": _check_redis_url,
    "forwarded_allow_ips": _check_forwarded_ips,
    "celery_broker_url": _check_celery_url,
    "celery_result_backend": _check_result_backend,
    "cors_allowed_origins": _check_origins,
}


def validate_value(key: str, value: Any, *, source: str, from_text: bool = False,
                   known: Mapping[str, Setting] | None = None) -> Any:
    """Validate one value for ``key``; raise ConfigError naming ``source`` and ``key``.

    ``known`` is the table of valid keys: LTS's own settings unless the caller adds the
    ones plugins declare.
    """
    setting = (SETTINGS if known is None else known).get(key)
    if setting is None:
        raise ConfigError(f"{source}: unknown key '{key}'")
    try:
        checked = _coerce_text(setting, value) if from_text else _check_json_value(setting, value)
        checked = _check_limits(setting, checked)
        if key in _FORMAT_CHECKS:
            _FORMAT_CHECKS[key](checked)
        return checked
    except ValueError as exc:
        raise ConfigError(f"{source}: key '{key}': {exc}") from None


def _check_combination(merged: Mapping[str, Any]) -> None:
    """Rules between settings, checked on the merged result.

    Reset mail carries a link: built from the request's Host header it could point at an
    attacker's site (issue 11, finding 1), so mail needs the site's own address.
    """
    if merged.get("smtp_host") and not merged.get("public_url"):
        raise ConfigError("key 'public_url': must be set when smtp_host is set (password-reset "
                          "mail links are built from it), e.g. https://lts.example.com")
    deadline = merged.get("celery_step_deadline_seconds", 0.0)
    if merged.get("celery_broker_url") and merged.get("celery_visibility_timeout",
                                                        deadline + 1) <= deadline:
        raise ConfigError("key 'celery_visibility_timeout': must exceed "
                          "celery_step_deadline_seconds, or a step still running would be "
                          "handed to a second worker")


# A layer before validation: key -> (raw value, where it came from), and whether raw
# values are text (environment, --set) to coerce or JSON values to check.
@dataclass(frozen=True)
class _Layer:
    values: dict[str, tuple[Any, str]]
    from_text: bool


def _validate_layer(layer: _Layer, known: Mapping[str, Setting],
                    skip: Iterable[str] = ()) -> dict[str, Any]:
    """Validate every entry of one layer against ``known``; keys in ``skip`` are dropped."""
    skipped = set(skip)
    return {key: validate_value(key, raw, source=source, from_text=layer.from_text, known=known)
            for key, (raw, source) in layer.values.items() if key not in skipped}


def _validate_mapping(values: Mapping[str, Any], source: str, from_text: bool) -> dict[str, Any]:
    """Validate every entry of one layer against LTS's own settings."""
    return _validate_layer(_json_layer(values, source, from_text), SETTINGS)


def _json_layer(values: Mapping[str, Any], source: str, from_text: bool = False) -> _Layer:
    """A layer whose every key came from the same ``source``."""
    return _Layer({str(k): (v, source) for k, v in values.items()}, from_text)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a JSON config file (the ``--load-config`` layer)."""
    return _validate_layer(_file_layer(path), SETTINGS)


def _file_layer(path: str | os.PathLike[str]) -> _Layer:
    """Read a JSON config file into a layer, without validating its values."""
    source = f"config file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    return _parse_json_layer(text, source)


def _parse_json_layer(text: str, source: str) -> _Layer:
    """Parse a JSON object layer (its values are validated later)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
    return _json_layer(data, source)


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect ``LTS_*`` variables; an ``LTS_`` variable naming no setting is an error."""
    return _validate_layer(_environment_layer(environ), SETTINGS)


def _environment_layer(environ: Mapping[str, str]) -> _Layer:
    """The ``LTS_*`` variables (but test tooling's) as a layer of text values."""
    values = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith("LTS_TEST_") \
                or name in TOOLING_VARIABLES:
            continue
        values[name[len(ENV_PREFIX):].lower()] = (raw, f"environment {name}")
    return _Layer(values, from_text=True)


def parse_set_options(pairs: Iterable[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` pairs from the command line."""
    return _validate_layer(_set_layer(pairs), SETTINGS)


def _set_layer(pairs: Iterable[str]) -> _Layer:
    """The ``--set key=value`` pairs as a layer of text values."""
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair}: expected key=value")
        key = key.strip()
        values[key] = (raw, f"--set {key}")
    return _Layer(values, from_text=True)


def fetch_remote_config(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """Fetch the ``--remote-config`` JSON layer; any failure names the URL."""
    return _validate_layer(_remote_layer(url, timeout), SETTINGS)


def _remote_layer(url: str, timeout: float = 10.0) -> _Layer:
    """Fetch the remote JSON object as a layer."""
    import requests  # only needed when a remote config is asked for

    source = f"remote config {url}"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise ConfigError(f"{source}: unreachable: {exc.__class__.__name__}") from None
    if response.status_code != 200:
        raise ConfigError(f"{source}: HTTP {response.status_code}")
    return _parse_json_layer(response.text, source)


@dataclass(frozen=True)
class ConfigSources:
    """Where the layers above the defaults come from; empty means "not given"."""

    config_file: str | None = None
    environ: Mapping[str, str] | None = None
    cli_sets: tuple[str, ...] = ()
    remote_url: str | None = None


#: Given LTS's own settings as merged so far, returns the settings plugins declare.
PluginSettings = Callable[[Mapping[str, Any]], Mapping[str, Setting]]


def merge_config(sources: ConfigSources, overrides: Mapping[str, Any] | None = None, *,
                 plugin_settings: PluginSettings | None = None) -> dict[str, Any]:
    """Merge defaults < file < environment < ``--set`` < remote < ``overrides``.

    ``overrides`` is what tests and embedding code pass to ``create_app``; they are
    validated like JSON values. Keys LTS does not know are errors, unless a plugin
    declares them: ``plugin_settings`` (asked only when such keys exist, since it must
    discover the plugins) returns those declarations. In safe mode third-party plugins
    are not loaded, so keys nobody declares are ignored with a warning instead: safe mode
    must start whatever settings the plugins left behind.
    """
    layers = _read_layers(sources, overrides)
    unknown = {key for layer in layers for key in layer.values if key not in SETTINGS}
    merged = defaults()
    for layer in layers:
        merged.update(_validate_layer(layer, SETTINGS, skip=unknown))
    _check_combination(merged)
    if not unknown:
        return merged
    known: dict[str, Setting] = dict(SETTINGS)
    if plugin_settings is not None:
        known.update({k: v for k, v in plugin_settings(merged).items() if k not in SETTINGS})
    ignored = unknown - set(known) if merged.get("safe_mode") else set()
    for key in sorted(ignored):
        log.warning("safe mode: setting %r is declared by no loaded plugin; ignored", key)
    for layer in layers:
        merged.update({k: v for k, v in _validate_layer(layer, known, skip=ignored).items()
                       if k in unknown})
    return merged


def _read_layers(sources: ConfigSources, overrides: Mapping[str, Any] | None) -> list[_Layer]:
    """Read every given source once, lowest first."""
    layers = []
    if sources.config_file:
        layers.append(_file_layer(sources.config_file))
    if sources.environ is not None:
        layers.append(_environment_layer(sources.environ))
    if sources.cli_sets:
        layers.append(_set_layer(sources.cli_sets))
    if sources.remote_url:
        layers.append(_remote_layer(sources.remote_url))
    if overrides:
        layers.append(_json_layer(overrides, "overrides"))
    return layers


def masked(config: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Return a copy with every secret value replaced by a mask (empty secrets stay empty).

    ``secrets`` adds the keys of secret settings declared by plugins.
    """
    result = dict(config)
    secret_keys = {key for key, setting in SETTINGS.items() if setting.secret} | set(secrets)
    for key in secret_keys:
        if result.get(key):
            result[key] = MASK
    if "database_url" in result:
        result["database_url"] = mask_url_password(result["database_url"])
    return result


def mask_url_password(url: str) -> str:
    """Hide the password of a database URL such as ``postgresql://u:pw@host/db``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    if ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{host}"


def save_config(path: str | os.PathLike[str], config: Mapping[str, Any],
                plugin_settings: Mapping[str, Setting] | None = None) -> None:
    """Write the merged configuration as JSON with secrets masked.

    ``plugin_settings`` are the settings plugins declare: theirs are written too, masked
    when secret.
    """
    extra = dict(plugin_settings or {})
    secrets = [key for key, setting in extra.items() if setting.secret]
    data = {k: v for k, v in masked(config, secrets).items() if k in SETTINGS or k in extra}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
