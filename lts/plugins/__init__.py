"""Plugins of six kinds; contracts in :mod:`lts.plugins.base`, built-ins in sub-packages."""
