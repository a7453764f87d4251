"""Core plugins: what runs the trading loop. The built-in one is ``default``."""
