"""lts-momentum: an example third-party strategy plugin for LTS."""

from lts_momentum.strategy import Momentum

__all__ = ["Momentum"]
