"""Allocation arithmetic shared by the built-in portfolio plugins.

:func:`capped` lives in :mod:`lts.plugins.allocation`, its public home (plugin authors
import it from there); this name stays for the built-ins and older imports.
"""

from __future__ import annotations

from lts.plugins.allocation import capped

__all__ = ["capped"]
