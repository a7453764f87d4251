"""``flask lts plugin new``, ``flask lts portfolio create`` and ``flask lts asset add``.

Thin click wrappers: the skeleton comes from :mod:`lts.plugins.authoring`, portfolios
and assets from the same services the API and the dashboard use (validation, plugin
configs, secrets encrypted, audit rows), acting as the user named by ``--user``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from lts.limits import TOTAL_CAPITAL_MAX, TOTAL_CAPITAL_MIN_EXCLUSIVE
from lts.plugins.base import PLUGIN_KINDS


def register(group: click.Group) -> None:
    """Add this module's commands to the ``flask lts`` group."""
    group.add_command(plugin)
    group.add_command(portfolio)
    group.add_command(asset)


def _json_object(option: str, text: str | None) -> dict[str, Any] | None:
    """Parse an option's JSON object, or fail naming the option."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object such as '{\"lookback\": 20}'",
                                 param_hint=option)
    return value


def _actor(username: str) -> Any:
    """The user the command acts as; fails naming --user when there is none."""
    from lts.plugins.aaa.users import find_user

    user = find_user(username)
    if user is None:
        raise click.BadParameter(f"no user named {username!r}", param_hint="--user")
    return user


def _service_call(call: Any) -> Any:
    """Run a service call; a ServiceError exits 1 with its message and fields."""
    from lts.errors import ServiceError

    try:
        return call()
    except ServiceError as exc:
        details = "; ".join(f"{field} {message}" for field, messages in exc.fields.items()
                            for message in messages)
        raise click.ClickException(f"{exc.message}: {details}" if details
                                   else exc.message) from None


# ------------------------------------------------------------------ plugin new

@click.group("plugin")
def plugin() -> None:
    """Write plugin packages (see docs/plugins.md)."""


@plugin.command("new")
@click.argument("kind", type=click.Choice(PLUGIN_KINDS))
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True,
              help="Folder in which the package folder lts-<name> is created.")
def plugin_new(kind: str, name: str, parent: Path) -> None:
    """Write an installable package with a KIND plugin called NAME, and its tests."""
    from lts.plugins.authoring import AuthoringError, new_plugin

    try:
        skeleton = new_plugin(kind, name, parent)
    except AuthoringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {skeleton.root} ({skeleton.distribution}): entry point "
               f"{skeleton.entry_point} in group lts.{kind}.")
    click.echo(f"Next: pip install -e {skeleton.root}, then python -m pytest "
               f"{skeleton.root / 'tests'} and flask lts plugins --check.")


# ------------------------------------------------------------------ portfolio create

@click.group("portfolio")
def portfolio() -> None:
    """Create portfolios (as a user; the API and dashboard do the same)."""


@portfolio.command("create")
@click.option("--user", "username", required=True, help="Owner; the command acts as them.")
@click.option("--name", required=True, help="Portfolio name (unique per user).")
@click.option("--capital", "total_capital", required=True,
              type=click.FloatRange(TOTAL_CAPITAL_MIN_EXCLUSIVE, TOTAL_CAPITAL_MAX,
                                    min_open=True),
              help="Total capital (total_capital).")
@click.option("--plugin", "portfolio_plugin", default=None,
              help="Portfolio plugin, e.g. equal_weight (default: the configured one).")
@click.option("--config", "portfolio_config", default=None, metavar="JSON",
              help="The plugin's config as a JSON object.")
@click.option("--latency", "portfolio_latency", type=int, default=None,
              help="Seconds between two runs of the portfolio.")
@click.option("--max-drawdown", "max_drawdown_pct", type=float, default=None,
              help="Halt the portfolio beyond this drawdown, in percent.")
@with_appcontext
def portfolio_create(username: str, **options: Any) -> None:
    """Create a portfolio; prints its id (used by `flask lts asset add`)."""
    from lts.services.portfolios import create_portfolio

    options["portfolio_config"] = _json_object("--config", options["portfolio_config"])
    data = {key: value for key, value in options.items() if value is not None}
    created = _service_call(lambda: create_portfolio(_actor(username), data))
    click.echo(f"Portfolio {created.id} {created.name!r} of {username}: "
               f"{created.portfolio_plugin}, capital {created.total_capital:g}.")


# ------------------------------------------------------------------ asset add

@click.group("asset")
def asset() -> None:
    """Add assets to portfolios (as their owner; the API and dashboard do the same)."""


@asset.command("add")
@click.argument("portfolio_id", type=int)
@click.argument("symbol")
@click.option("--user", "username", required=True, help="The portfolio's owner.")
@click.option("--name", default=None, help="Display name.")
@click.option("--pipeline", "pipeline_plugin", default=None, help="Pipeline plugin name.")
@click.option("--pipeline-config", default=None, metavar="JSON",
              help="The pipeline's config as a JSON object.")
@click.option("--strategy", "strategy_plugin", default=None, help="Strategy plugin name.")
@click.option("--strategy-config", default=None, metavar="JSON",
              help="The strategy's config as a JSON object.")
@click.option("--broker", "broker_plugin", default=None, help="Broker plugin name.")
@click.option("--broker-config", default=None, metavar="JSON",
              help="The broker's config as a JSON object (secrets stored encrypted).")
@click.option("--max-data-age", "max_data_age_minutes", type=int, default=None,
              help="Minutes after which the asset's data counts as stale.")
@with_appcontext
def asset_add(portfolio_id: int, symbol: str, username: str, **options: Any) -> None:
    """Add SYMBOL to portfolio PORTFOLIO_ID with the chosen plugins and configs."""
    from lts.services.assets import create_asset

    for kind in ("pipeline", "strategy", "broker"):
        key = f"{kind}_config"
        options[key] = _json_object(f"--{kind}-config", options[key])
    data = {"symbol": symbol, **{k: v for k, v in options.items() if v is not None}}
    created = _service_call(lambda: create_asset(_actor(username), portfolio_id, data))
    click.echo(f"Asset {created.id} {created.symbol} in portfolio {portfolio_id}: pipeline "
               f"{created.pipeline_plugin}, strategy {created.strategy_plugin}, broker "
               f"{created.broker_plugin}.")
