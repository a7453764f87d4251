"""Backtests: replay history through the same plugins and engine as the live loop.

- :mod:`lts.backtest.data`: bars from a folder of CSV files, gaps reported, not filled;
- :mod:`lts.backtest.runner`: :func:`~lts.backtest.runner.run_backtest`, the one seam a
  replay (today the engine on a throw-away SQLite app) plugs into;
- :mod:`lts.backtest.result`: what a run produced (equity, orders, fills, trades);
- :mod:`lts.backtest.report`: the metrics people read, and their writers.
"""
