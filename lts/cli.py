"""``flask lts ...``: thin click wrappers around the services.

The group is registered as a Flask CLI plugin (entry point ``flask.commands``), so
Flask finds it without building the app first; the group's options are merged into a
configuration, and only then is the app created, from exactly that configuration.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from lts.config import ConfigError, ConfigSources, masked, merge_config, save_config
from lts.models.enums import RISK_STATES

SERVING_COMMANDS = ("run", "loop")


@click.group(invoke_without_command=True)
@click.option("--load-config", "config_file", type=click.Path(dir_okay=False),
              help="JSON file of settings (above the defaults).")
@click.option("--set", "cli_sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting (above file and environment). Repeatable.")
@click.option("--remote-config", "remote_url", metavar="URL",
              help="Fetch a JSON object of settings from URL (highest layer).")
@click.option("--save-config", "save_path", type=click.Path(dir_okay=False),
              help="Write the merged configuration (secrets masked) to this file.")
@click.pass_context
def lts(ctx: click.Context, config_file: str | None, cli_sets: tuple[str, ...],
        remote_url: str | None, save_path: str | None) -> None:
    """LTS, the Live Trading System: database, users, demo data and the server."""
    info = ctx.ensure_object(ScriptInfo)
    if config_file or cli_sets or remote_url or save_path:
        import os

        from lts import create_app
        from lts.plugins.registry import SettingsDiscovery

        plugins = SettingsDiscovery()
        try:
            merged = merge_config(ConfigSources(config_file=config_file, environ=os.environ,
                                                cli_sets=cli_sets, remote_url=remote_url),
                                  plugin_settings=plugins)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        if save_path:
            declared = plugins.registry.declared_settings() if plugins.registry else {}
            save_config(save_path, merged, declared)
            click.echo(f"Saved the merged configuration to {save_path} (secrets masked).")
        info.create_app = lambda: create_app(config=merged)
    elif info.create_app is None and info.app_import_path is None:
        from lts import create_app

        # Never fall back to wsgi.py: it starts the trading loop, which CLI commands
        # (init-db, demo, tick, ...) must not do behind the user's back.
        info.create_app = lambda: create_app()
    if ctx.invoked_subcommand not in (None, *SERVING_COMMANDS):
        # A command is one short write unit after another, run while a server may be
        # writing too: on SQLite each begins IMMEDIATE (SPEC 2a). Not the serving
        # commands: their worker threads decide per request.
        from lts.database import reset_immediate_writes, set_immediate_writes

        token = set_immediate_writes(True)
        ctx.call_on_close(lambda: reset_immediate_writes(token))
    if ctx.invoked_subcommand is None and not save_path:
        click.echo(ctx.get_help())


def _fail(message: str) -> None:
    """Print an error and exit non-zero."""
    raise click.ClickException(message)


@lts.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database to the newest migration."""
    from flask_migrate import upgrade

    from lts.services.schema import migration_status

    upgrade()
    status = migration_status()
    click.echo(f"Database at revision {status.current} (head {status.head}).")


@lts.command("show-schema")
@with_appcontext
def show_schema() -> None:
    """Print every table of the database with its columns and types."""
    from lts.services.schema import live_schema

    tables = live_schema()
    if not tables:
        _fail("the database has no tables yet: run `flask lts init-db` first")
    for table, columns in tables.items():
        click.echo(f"{table}")
        width = max(len(c.name) for c in columns)
        for column in columns:
            flags = " ".join(f for f, on in (("PK", column.primary_key),
                                             ("NULL", column.nullable)) if on)
            click.echo(f"  {column.name:<{width}}  {column.type:<16} {flags}".rstrip())
        click.echo("")


@lts.command("create-user")
@click.argument("username")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--role", type=click.Choice(["admin", "user"]), default="user", show_default=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
@with_appcontext
def create_user_command(username: str, email: str, role: str, password_stdin: bool) -> None:
    """Create a user (prompts for the password unless --password-stdin)."""
    from lts.errors import ServiceError
    from lts.plugins.aaa.users import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(username, email, role, password)
    except ServiceError as exc:
        details = "; ".join(f"{field} {msg}" for field, msgs in exc.fields.items()
                            for msg in msgs)
        _fail(f"{exc.message}: {details}" if details else exc.message)
    from lts.plugins.aaa import current_aaa

    current_aaa().account(None, "user.create", f"user:{user.id}",
                          {"username": user.username, "role": user.role, "via": "cli"})
    click.echo(f"Created {user.role} '{user.username}' (id {user.id}).")


@lts.command("demo")
@with_appcontext
def demo() -> None:
    """Seed the demo admin and a paper-trading portfolio (safe to run again)."""
    from lts.services.demo import seed_demo

    seed = seed_demo()
    settings: dict[str, Any] = current_app.config["LTS"]
    verb = "Created" if seed.created else "Found"
    click.echo(f"{verb} demo admin and '{seed.portfolio.name}' "
               f"({len(seed.portfolio.assets)} assets, paper broker).")
    click.echo(f"Open http://{settings['host']}:{settings['port']}/ and log in as "
               f"{seed.user.username} / {seed.password}")


@lts.command("config")
@with_appcontext
def show_config() -> None:
    """Print the merged configuration (secrets masked, plugins' secret settings too)."""
    import json

    from lts.plugins.registry import get_registry

    declared = get_registry(current_app._get_current_object()).declared_settings()  # type: ignore[attr-defined]
    secrets = [key for key, setting in declared.items() if setting.secret]
    click.echo(json.dumps(masked(current_app.config["LTS"], secrets), indent=2, sort_keys=True))


@lts.command("run")
@with_appcontext
def run() -> None:
    """Serve LTS with gunicorn on the configured host and port."""
    from lts.server import serve

    settings = dict(current_app.config["LTS"])
    loop = (f"trading loop every {settings['global_latency']:g} min"
            if settings["loop_enabled"] else "trading loop off")
    click.echo(f"LTS listening on http://{settings['host']}:{settings['port']}/ "
               f"({settings['web_workers']} worker(s), {loop}); Ctrl+C stops it.")
    serve(settings)


@lts.command("reset-password")
@click.argument("username")
@click.option("--base-url", metavar="URL",
              help="Site address for the link (default: public_url, else from host, port "
                   "and cookie settings).")
@with_appcontext
def reset_password_command(username: str, base_url: str | None) -> None:
    """Print a single-use, 30-minute password-reset link for USERNAME."""
    from lts.plugins.aaa import current_aaa
    from lts.security.hosts import link_on

    aaa = current_aaa()
    issued = aaa.make_reset_token(username)
    if issued is None:
        _fail(f"no active user '{username}'")
        return
    user, token = issued
    settings: dict[str, Any] = current_app.config["LTS"]
    scheme = "https" if settings["session_cookie_secure"] else "http"
    base = base_url or settings["public_url"] or f"{scheme}://{settings['host']}:{settings['port']}"
    link = link_on(base, "auth.reset_password", token=token)
    aaa.account(None, "password_reset.link_issued", f"user:{user.id}",
                {"via": "cli", "username": user.username})
    click.echo(f"Reset link for {user.username} (single use, valid 30 minutes):")
    click.echo(link)


@lts.command("tick")
@click.option("--now", "at", metavar="ISO-TIME",
              help="Run the tick as if it were this time (e.g. 2026-03-02T09:30:00+00:00; "
                   "no offset means UTC) on a throw-away COPY of the SQLite database: "
                   "nothing stored changes. Refused on PostgreSQL (copy it yourself and "
                   "point --set database_url at the copy) and when an asset uses a broker "
                   "other than a simulated one (paper).")
@with_appcontext
def tick(at: str | None) -> None:
    """Run one tick of the trading loop through the core plugin and print its report.

    Exits 1 when any plugin failed: an asset's step, an allocator that raised or
    allocated more than there is, a portfolio's step. Says so when no portfolio was
    due, and when the next one is.
    """
    from lts.errors import ServiceError
    from lts.trading.loop import run_tick
    from lts.trading.report import format_report

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if at is None:
        report = run_tick(app)
    else:
        from lts import create_app
        from lts.services.debug_tick import parse_now, run_debug_tick

        try:
            debug = run_debug_tick(app, parse_now(at), create_app)
        except ServiceError as exc:
            _service_failure(exc)
            return
        report = debug.report
        click.echo(f"Debug tick on a copy of {debug.source} (left unchanged).")
    click.echo(format_report(report))
    if report.failed:
        sys.exit(1)


@lts.command("loop")
@with_appcontext
def loop() -> None:
    """Run the trading loop in this process until interrupted (web workers can skip it)."""
    import signal
    import threading

    from lts.trading.loop import start_loop, stop_loop

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stopping = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    start_loop(app)
    click.echo(f"Trading loop running (every {app.config['LTS']['global_latency']:g} min); "
               "Ctrl+C stops it.")
    try:
        stopping.wait()
    finally:
        stop_loop(app)
        click.echo("Trading loop stopped.")


@lts.command("plugins")
@click.option("--check", is_flag=True,
              help="Exit with status 1 when any plugin failed to load (for scripts and CI).")
@with_appcontext
def plugins(check: bool) -> None:
    """List every plugin with its kind, origin, version and config fields, then load errors.

    The list is what a server started now with the same settings loads (one registry
    for all six kinds); a running server shows the same after "Reload plugins".
    """
    from lts.plugins.registry import get_registry

    registry = get_registry(current_app._get_current_object())  # type: ignore[attr-defined]
    infos = registry.infos()
    width = max((len(i.name) for i in infos), default=4)
    for info in infos:
        fields = ", ".join(info.config_fields) or "-"
        settings = f"  settings: {', '.join(info.settings)}" if info.settings else ""
        click.echo(f"{info.kind:<9} {info.name:<{width}}  {info.origin:<24} "
                   f"{info.version:<8} config: {fields}{settings}")
    errors = registry.errors
    if errors:
        click.echo("")
        click.echo(f"{len(errors)} plugin(s) failed to load:")
        for error in errors:
            click.echo(f"  {error}")
        if check:
            sys.exit(1)


def _service_failure(exc: Any) -> None:
    """Exit with a service error's message and the fields it names."""
    details = "; ".join(f"{field} {msg}" for field, msgs in exc.fields.items()
                        for msg in msgs)
    _fail(f"{exc.message}: {details}" if details else exc.message)


@lts.group("risk")
def risk() -> None:
    """Show or set risk states: active, reducing (closing orders only) or halted."""


@risk.command("set")
@click.argument("state", type=click.Choice(RISK_STATES))
@click.option("--portfolio", "portfolio_id", type=int, metavar="ID",
              help="Set this portfolio's state (default: the global state).")
@click.option("--reason", default=None, help="Why; stored in the audit log.")
@with_appcontext
def risk_set(state: str, portfolio_id: int | None, reason: str | None) -> None:
    """Set the global risk state, or one portfolio's with --portfolio (audited as cli)."""
    from lts.errors import ServiceError
    from lts.services import risk_controls

    try:
        if portfolio_id is None:
            risk_controls.operator_set_global_risk_state(state, reason)
            click.echo(f"Global risk state: {state}.")
        else:
            portfolio = risk_controls.operator_set_portfolio_risk_state(portfolio_id, state,
                                                                        reason)
            click.echo(f"Portfolio {portfolio.id} ({portfolio.name}): {state}.")
    except ServiceError as exc:
        _service_failure(exc)


@risk.command("show")
@with_appcontext
def risk_show() -> None:
    """Print the global risk state and every portfolio's, with who changed it and why."""
    from lts.services import risk_controls

    state, change, portfolios = risk_controls.risk_overview()
    click.echo(f"global: {state}{_change_text(change)}")
    for p in portfolios:
        active = "" if p.is_active else " (inactive)"
        click.echo(f"portfolio {p.id} {p.name!r} of {p.owner}: {p.state}{active}"
                   f"{_change_text(p.change)}")


def _change_text(change: Any) -> str:
    """`` - set by X at T: why`` for a recorded change, else nothing."""
    if change is None:
        return ""
    text = f" - set by {change.by} at {change.at.isoformat(timespec='seconds')}"
    return f"{text}: {change.reason}" if change.reason else text


@lts.command("cancel")
@click.argument("order_id", type=int)
@with_appcontext
def cancel_command(order_id: int) -> None:
    """Cancel a live order through its broker (audited as cli); exit 1 unless cancelled."""
    from lts.errors import ServiceError
    from lts.trading.cancel import cancel_order

    try:
        outcome = cancel_order(order_id, via="cli")
        outcome.raise_unless_cancelled()
    except ServiceError as exc:
        _service_failure(exc)
        return
    click.echo(f"Order {outcome.order_id} ({outcome.client_order_id}): {outcome.before} -> "
               f"{outcome.status}.")


# Plugin authoring, portfolio and asset commands live in their own module.
from lts.cli_plugins import register as _register_plugin_commands  # noqa: E402

_register_plugin_commands(lts)

from lts.cli_data import register_data_commands  # noqa: E402  (predict, data concat)

register_data_commands(lts)

from lts.cli_ops import register_ops_commands  # noqa: E402  (backup, restore)

register_ops_commands(lts)

from lts.cli_worker import register_worker_commands  # noqa: E402  (worker)

register_worker_commands(lts)

from lts.cli_backtest import register_backtest_commands  # noqa: E402  (backtest, data fetch)
from lts.cli_data import data_group as _data_group  # noqa: E402

register_backtest_commands(lts, _data_group)
