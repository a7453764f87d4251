"""lts-market-hours: an example third-party core plugin for LTS.

Nothing is imported here: LTS loads ``lts_market_hours.core`` through its entry point,
so a broken module of this package never hides another one.
"""
