"""``flask lts plugin new KIND NAME``: an installable plugin package to start from.

The skeleton is a complete distribution (issue 19, item 6)::

    lts-<name>/
      pyproject.toml          entry point in group ``lts.<kind>``, depends on lts-live-trading
      README.md               install, test, attach
      src/lts_<name>/__init__.py   imports nothing (entry points name the module)
      src/lts_<name>/plugin.py     the plugin: config schema, declared interface_version
      tests/test_<name>.py         the kind's contract suite, plus a first own test

Every generated plugin passes its contract suite as written, so an author starts green
and sees the first red when a change breaks a rule. Pipelines, strategies, brokers and
portfolios get their own suites (:mod:`lts.testing`); ``aaa`` and ``core`` plugins wrap
the built-in and get the checks every plugin passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from lts.plugins.base import INTERFACE_VERSION, PLUGIN_KINDS

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class AuthoringError(ValueError):
    """A plugin skeleton cannot be written (bad kind or name, folder in the way)."""


@dataclass(frozen=True)
class Skeleton:
    """Where a skeleton went and what it is called."""

    root: Path
    distribution: str
    package: str
    class_name: str
    entry_point: str
    files: tuple[Path, ...]


def _names(kind: str, name: str) -> dict[str, str]:
    """Every name the templates use, derived from ``kind`` and ``name``."""
    if kind not in PLUGIN_KINDS:
        raise AuthoringError(f"unknown plugin kind {kind!r}; kinds are {', '.join(PLUGIN_KINDS)}")
    if not NAME_PATTERN.match(name):
        raise AuthoringError(f"plugin name {name!r}: use lower-case letters, digits and "
                             f"underscores, starting with a letter (e.g. rsi_reversion)")
    class_name = "".join(part.capitalize() for part in name.split("_") if part)
    package = f"lts_{name}"
    from lts.plugins.registry import lts_version

    major_minor = ".".join(lts_version().split(".")[:2])
    return {"kind": kind, "name": name, "cls": class_name, "package": package,
            "dist": "lts-" + name.replace("_", "-"), "interface": INTERFACE_VERSION,
            "requirement": f"lts-live-trading>={major_minor}",
            "entry": f"{package}.plugin:{class_name}"}


def new_plugin(kind: str, name: str, parent: Path) -> Skeleton:
    """Write the skeleton of a ``kind`` plugin called ``name`` into ``parent/lts-<name>``.

    Refuses (AuthoringError) to write into a folder that exists and is not empty: an
    author's work is never overwritten.
    """
    values = _names(kind, name)
    root = Path(parent) / values["dist"]
    if root.exists() and any(root.iterdir()):
        raise AuthoringError(f"{root} exists and is not empty: choose another --dir or name")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{values['package']}/__init__.py": INIT,
        f"src/{values['package']}/plugin.py": PLUGINS[kind],
        f"tests/test_{name}.py": TESTS[kind],
    }
    written = []
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
        written.append(path)
    return Skeleton(root=root, distribution=values["dist"], package=values["package"],
                    class_name=values["cls"], entry_point=f"{name} = {values['entry']}",
                    files=tuple(written))


# ----------------------------------------------------------------------- package files

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "An LTS $kind plugin: $name."
readme = "README.md"
requires-python = ">=3.11"
# LTS's distribution name is lts-live-trading (the import package is `lts`).
dependencies = ["$requirement"]

[project.optional-dependencies]
test = ["pytest", "hypothesis"]

# What makes LTS find the plugin: group "lts.<kind>", name = the class's `name`.
[project.entry-points."lts.$kind"]
$name = "$entry"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["error"]
'''

README = '''# $dist: the `$name` $kind plugin for LTS

```sh
pip install -e .                 # into LTS's virtualenv
flask lts plugins --check        # lists $name ($kind, entry point $dist 0.1.0)
python -m pytest                 # LTS's $kind contract suite and your own tests
```

A running server finds a newly installed or upgraded plugin after a restart or the
admin page's "Reload plugins". Then choose `$name` as the $kind plugin of an asset or
portfolio (see "Attach it to a portfolio" in LTS's docs/plugins.md).
'''

INIT = '''"""$dist: the `$name` $kind plugin for LTS.

Nothing is imported here: LTS loads ``$entry`` through the entry point,
so a broken module of this package never hides the others.
"""
'''

_HEADER = '''"""The `$name` $kind plugin.

Declared for LTS's plugin interface $interface (``interface_version``): LTS refuses
the plugin, with a message, once its interface moves to another major version.
"""

from __future__ import annotations

'''

PLUGINS = {
    "strategy": _HEADER + '''from typing import Any

import marshmallow
from marshmallow import fields, validate

from lts.plugins.base import Decision, MarketSnapshot, PositionInfo, StrategyPlugin


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    lookback = fields.Integer(load_default=20, validate=validate.Range(min=2, max=10_000),
                              metadata={"description": "Bars of the breakout window."})
    stop_pct = fields.Float(load_default=0.01, validate=validate.Range(min=0.0001, max=0.5),
                            metadata={"description": "Stop loss distance, as a fraction."})


class $cls(StrategyPlugin):
    """Buys a close above the highest close of the last `lookback` bars, exits below the lowest."""

    name = "$name"
    interface_version = "$interface"
    config_schema = ${cls}Config

    def decide(self, snapshot: MarketSnapshot, position: PositionInfo | None,
               allocation: float) -> Decision:
        """Open long on a breakout, close on a breakdown, else hold (always saying why)."""
        closes = snapshot.candles["close"]
        lookback = int(self.config["lookback"])
        if len(closes) <= lookback:
            return Decision.hold(f"{len(closes)} bars, {lookback + 1} needed")
        last = float(closes.iloc[-1])
        window: Any = closes.iloc[-lookback - 1:-1]
        if position is not None:
            if last < float(window.min()):
                return Decision(action="close", reason=f"close {last:g} below the range")
            return Decision.hold("in position")
        if allocation <= 0:
            return Decision.hold("no capital allocated")
        if last > float(window.max()):
            return Decision(action="open", side="buy",
                            stop_loss=last * (1 - float(self.config["stop_pct"])),
                            reason=f"close {last:g} above the {lookback}-bar high")
        return Decision.hold("no breakout")
''',
    "portfolio": _HEADER + '''from collections.abc import Mapping, Sequence

import marshmallow
from marshmallow import fields, validate

from lts.plugins.allocation import capped
from lts.plugins.base import AssetInfo, MarketSnapshot, PortfolioInfo, PortfolioPlugin


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    cash_reserve = fields.Float(load_default=0.1, validate=validate.Range(min=0, max=1),
                                metadata={"description": "Fraction of the capital kept "
                                                         "unallocated."})


class $cls(PortfolioPlugin):
    """Splits the allocatable equity evenly, keeping `cash_reserve` of it unallocated."""

    name = "$name"
    interface_version = "$interface"
    config_schema = ${cls}Config

    def allocate(self, portfolio: PortfolioInfo, assets: Sequence[AssetInfo],
                 snapshots: Mapping[int, MarketSnapshot]) -> dict[int, float]:
        """Even shares of ``portfolio.capital`` (the allocatable equity), never above it."""
        if not assets:
            return {}
        usable = portfolio.capital * (1.0 - float(self.config["cash_reserve"]))
        # capped: no negative share, and a float sum never above the capital.
        return capped({asset.id: usable / len(assets) for asset in assets}, portfolio.capital)
''',
    "pipeline": _HEADER + '''from datetime import datetime
from pathlib import Path

import marshmallow
import pandas as pd
from marshmallow import fields, validate

from lts.plugins.bars import bars_between, complete_bars, resample
from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin, PluginError
from lts.plugins.pipeline.csv import file_name_for, read_ohlcv


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    folder = fields.String(required=True, validate=validate.Length(min=1, max=1000),
                           metadata={"description": "Folder of <symbol>.csv files."})
    lookback = fields.Integer(load_default=200, validate=validate.Range(min=1, max=100_000),
                              metadata={"description": "Number of bars returned."})
    resample_minutes = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=10_080),
        metadata={"description": "Aggregate into bars of this many minutes (optional)."})


class $cls(PipelinePlugin):
    """Bars read by `raw_bars` (a CSV per symbol here: replace it with your source).

    Bar time (SPEC 2a): bars are stamped by the start of their period and returned only
    once complete; lts.plugins.bars does the cutting and resampling, so keep using it.
    """

    name = "$name"
    interface_version = "$interface"
    config_schema = ${cls}Config

    def raw_bars(self, asset: AssetInfo) -> pd.DataFrame:
        """Every bar the source has for ``asset`` (OHLCV, UTC index of period starts)."""
        path = Path(str(self.config["folder"])) / file_name_for(asset.symbol)
        if not path.is_file():
            raise PluginError(f"no data for {asset.symbol}: {path} not found")
        return read_ohlcv(path)

    def _complete(self, asset: AssetInfo, now: datetime) -> pd.DataFrame:
        """The bars complete at ``now``, resampled when configured."""
        raw = self.raw_bars(asset)
        minutes = self.config.get("resample_minutes")
        if minutes:
            return resample(raw, pd.Timedelta(minutes=int(minutes)), now)
        return complete_bars(raw, now)

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """The last ``lookback`` bars complete at ``now``."""
        bars = self._complete(asset, now).iloc[-int(self.config["lookback"]):]
        return MarketSnapshot(symbol=asset.symbol, candles=bars, as_of=now)

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """Every bar stamped from ``start`` and complete at ``end``."""
        return bars_between(self._complete(asset, end), start, end)
''',
    "broker": _HEADER + '''import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import marshmallow
from marshmallow import fields, validate

from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    BrokerResult,
    BrokerState,
    Fill,
    MarketSnapshot,
    OrderRequest,
    PluginError,
    PositionInfo,
)


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    spread = fields.Float(load_default=0.0002, validate=validate.Range(min=0, max=0.1),
                          metadata={"description": "Relative spread paid on each fill."})
    leverage = fields.Float(load_default=1.0, validate=validate.Range(min=1, max=100),
                            metadata={"description": "Capital multiplier for sizing."})
    api_key = fields.String(load_default="", metadata={
        "description": "Key of the broker account (stored encrypted, never shown).",
        "secret": True})


class $cls(BrokerPlugin):
    """Fills market orders at once, in memory: replace `_execute` with your broker's API.

    Idempotent on ``client_order_id``: a resent order answers the first answer.
    """

    name = "$name"
    interface_version = "$interface"
    config_schema = ${cls}Config

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._orders: dict[str, BrokerResult] = {}
        self._lock = threading.Lock()

    def _execute(self, request: OrderRequest, price: float) -> BrokerResult:
        """Send the order to the broker (here: fill it at ``price`` at once)."""
        spread = float(self.config["spread"])
        fill_price = price * (1 + spread) if request.side == "buy" else price * (1 - spread)
        fill = Fill(client_order_id=request.client_order_id, quantity=request.quantity,
                    price=fill_price, time=datetime.now(UTC))
        return BrokerResult(status="filled", broker_order_id=f"$name-{request.client_order_id}",
                            fills=(fill,))

    def submit(self, request: OrderRequest) -> BrokerResult:
        """Fill a market order within the allocation (x leverage); refuse a larger one."""
        with self._lock:
            if request.client_order_id in self._orders:
                return self._orders[request.client_order_id]
            if request.snapshot is None or request.snapshot.candles.empty:
                raise PluginError("no market price: the order carries no snapshot")
            price = request.snapshot.last_price
            room = request.asset.allocated_capital * self.leverage
            if request.closes_position_id is None and request.quantity * price > room:
                result = BrokerResult(status="rejected",
                                      message=f"{request.quantity:g} x {price:g} exceeds "
                                              f"the allocation of {room:g}")
            else:
                result = self._execute(request, price)
            self._orders[request.client_order_id] = result
            return result

    def close(self, position: PositionInfo, request: OrderRequest) -> BrokerResult:
        """Close ``position`` with the opposite market order."""
        return self.submit(request)

    def mark(self, asset: AssetInfo, snapshot: MarketSnapshot,
             positions: Sequence[PositionInfo]) -> list[Fill]:
        """No resting orders here, so no fill to report (a real broker reports its exits)."""
        return []

    def lookup(self, asset: AssetInfo, client_order_id: str) -> BrokerResult:
        """The stored answer, or a confirmed ``not_found``."""
        with self._lock:
            return self._orders.get(client_order_id, BrokerResult(status="not_found"))

    def reconcile(self, asset: AssetInfo) -> BrokerState:
        """Every order of this broker by client id."""
        with self._lock:
            return BrokerState(orders=dict(self._orders))
''',
    "aaa": _HEADER + '''from typing import Any

import marshmallow
from marshmallow import fields

from lts.models import User
from lts.plugins.aaa.default import DefaultAAA


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    denied_actions = fields.List(fields.String(), load_default=list, metadata={
        "description": "Actions refused to every non-admin user (e.g. portfolio.delete)."})


class $cls(DefaultAAA):
    """LTS's default access rules, plus a list of actions refused to non-admins."""

    name = "$name"
    interface_version = "$interface"
    description = "Default AAA with actions refused to non-admin users."
    config_schema = ${cls}Config

    def authorize(self, user: User | None, action: str, resource: Any = None) -> bool:
        """Refuse the configured actions to non-admins; otherwise the built-in rules."""
        if action in self.config.get("denied_actions", ()) and \\
                getattr(user, "role", None) != "admin":
            return False
        return super().authorize(user, action, resource)
''',
    "core": _HEADER + '''import logging
import time
from datetime import datetime

import marshmallow
from marshmallow import fields, validate

from lts.plugins.base import TickReport
from lts.plugins.core.default import DefaultCore

log = logging.getLogger(__name__)


class ${cls}Config(marshmallow.Schema):
    """Settings of $name; one schema drives validation, forms and JSON Schema."""

    class Meta:
        """Unknown keys are errors, so typos never pass silently."""

        unknown = marshmallow.RAISE

    slow_tick_seconds = fields.Float(
        load_default=5.0, validate=validate.Range(min=0, min_inclusive=False),
        metadata={"description": "Log a warning when a tick takes longer than this."})


class $cls(DefaultCore):
    """LTS's default loop, logging ticks slower than `slow_tick_seconds`."""

    name = "$name"
    interface_version = "$interface"
    description = "Default loop that warns about slow ticks."
    config_schema = ${cls}Config

    def tick(self, now: datetime) -> TickReport:
        """Run the built-in tick and time it."""
        started = time.monotonic()
        report = super().tick(now)
        took = time.monotonic() - started
        if took > float(self.config["slow_tick_seconds"]):
            log.warning("tick at %s took %.1f s", now.isoformat(), took)
        return report
''',
}

_TEST_HEADER = '''"""The `$name` plugin passes LTS's $kind contract suite, and does what it says."""

from __future__ import annotations

'''

TESTS = {
    "strategy": _TEST_HEADER + '''import numpy as np

from lts.testing.base_contract import make_snapshot
from lts.testing.strategy_contract import StrategyContract
from $package.plugin import $cls


class Test${cls}Contract(StrategyContract):
    """Every check LTS makes of a strategy."""

    plugin_factory = $cls


def test_a_breakout_opens_long_with_a_stop_below():
    snapshot = make_snapshot(list(np.linspace(100, 100.5, 30)) + [105.0])
    decision = $cls({"lookback": 20}).decide(snapshot, None, 1000.0)
    assert (decision.action, decision.side) == ("open", "buy")
    assert decision.stop_loss is not None and decision.stop_loss < 105.0
''',
    "portfolio": _TEST_HEADER + '''from lts.testing.base_contract import sample_asset
from lts.testing.portfolio_contract import PortfolioContract, sample_portfolio
from $package.plugin import $cls


class Test${cls}Contract(PortfolioContract):
    """Every check LTS makes of a portfolio allocator (a property test included)."""

    plugin_factory = $cls


def test_keeps_the_reserve():
    assets = [sample_asset("A", asset_id=1), sample_asset("B", asset_id=2)]
    allocation = $cls({"cash_reserve": 0.2}).allocate(sample_portfolio(1000.0), assets, {})
    assert allocation == {1: 400.0, 2: 400.0}
''',
    "pipeline": _TEST_HEADER + '''from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from lts.plugins.pipeline.csv import file_name_for
from lts.testing.pipeline_contract import PipelineContract, sample_bars, write_csv
from $package.plugin import $cls


class Test${cls}Contract(PipelineContract):
    """Every check LTS makes of a pipeline, look-ahead included.

    ``plugin`` reads sample data; ``plugin_over`` hands the suite's own data (absurd
    values after `now` included) to the plugin, the way your source would deliver it.
    """

    plugin_factory = $cls
    extra: ClassVar[dict[str, Any]] = {}

    def reading(self, folder: Path) -> $cls:
        """The plugin reading the CSV files of ``folder``."""
        return $cls({"folder": str(folder), **self.extra})

    @pytest.fixture
    def plugin(self, tmp_path: Path) -> $cls:
        write_csv(sample_bars(self.now, timedelta(minutes=1), before=600, after=120),
                  tmp_path / file_name_for(self.symbol))
        return self.reading(tmp_path)

    def plugin_over(self, sources: Mapping[str, pd.DataFrame], folder: Path) -> $cls:
        for symbol, bars in sources.items():
            write_csv(bars, folder / file_name_for(symbol))
        return self.reading(folder)


class Test${cls}ResampledContract(Test${cls}Contract):
    """The same checks with 15-minute bars built from the source's."""

    extra = {"resample_minutes": 15, "lookback": 30}
''',
    "broker": _TEST_HEADER + '''from lts.testing.broker_contract import BrokerContract
from $package.plugin import $cls


class Test${cls}Contract(BrokerContract):
    """Every check LTS makes of a broker: idempotent submits, lookups, limits, closes."""

    plugin_factory = $cls
''',
    "aaa": _TEST_HEADER + '''from lts.testing.base_contract import PluginContract
from $package.plugin import $cls


class Test${cls}Contract(PluginContract):
    """The checks every plugin passes (an aaa plugin wraps the built-in's contract)."""

    kind = "aaa"
    plugin_factory = $cls


def test_a_denied_action_is_refused_to_a_non_admin():
    class Member:
        role = "user"

    plugin = $cls({"denied_actions": ["portfolio.delete"]})
    assert plugin.authorize(Member(), "portfolio.delete") is False  # type: ignore[arg-type]
''',
    "core": _TEST_HEADER + '''from lts.testing.base_contract import PluginContract
from $package.plugin import $cls


class Test${cls}Contract(PluginContract):
    """The checks every plugin passes (a core plugin wraps the built-in loop)."""

    kind = "core"
    plugin_factory = $cls
''',
}
