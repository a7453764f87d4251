"""Built-in pipeline plugins: every module here is scanned by the registry."""
