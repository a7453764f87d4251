"""Built-in portfolio plugins: every module here is scanned by the registry."""
