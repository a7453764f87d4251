"""Built-in strategy plugins: every module here is scanned by the registry."""
