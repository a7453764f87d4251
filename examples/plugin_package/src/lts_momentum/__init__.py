"""lts-momentum: example third-party LTS plugins (a strategy, a pipeline, a portfolio).

LTS loads each plugin through its entry point (``lts_momentum.strategy:Momentum``...),
which imports that module alone: nothing is imported here, so a broken module hides
no other plugin of the package. ``from lts_momentum import Momentum`` still works: the
name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"Momentum": "strategy", "HourlyCsv": "pipeline", "MomentumWeight": "portfolio"}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """Import a plugin class from its module when it is first asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module 'lts_momentum' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lts_momentum.{_HOMES[name]}"), name)
