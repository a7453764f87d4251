"""Built-in broker plugins: every module here is scanned by the registry."""
