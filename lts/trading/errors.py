"""Errors raised by the trading engine."""

from __future__ import annotations


class TradingError(Exception):
    """Base of engine errors."""


class InvalidTransition(TradingError):
    """An order status change the state machine (SPEC 2a) does not allow."""


class RiskRejected(TradingError):
    """A pre-trade risk check refused an order; ``check`` names which one."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


class PluginCallError(TradingError):
    """A plugin call raised or timed out; carries a short traceback summary."""

    def __init__(self, kind: str, name: str, method: str, summary: str,
                 *, timed_out: bool = False) -> None:
        super().__init__(f"{kind} plugin '{name}' {method}: {summary}")
        self.kind = kind
        self.name = name
        self.method = method
        self.summary = summary
        self.timed_out = timed_out
