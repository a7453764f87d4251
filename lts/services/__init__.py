"""Business rules used alike by pages, the API, the CLI and the scheduler."""
