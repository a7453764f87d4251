"""Fake external services for tests, speaking their real wire formats."""
