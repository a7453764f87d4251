"""The enumerated strings stored in the database, in one place.

Each tuple feeds a CHECK constraint, so a bad value is refused by the database itself,
and the services and schemas validate against the same tuples.
"""

ROLES = ("admin", "user")
SESSION_KINDS = ("web", "api")
AUDIT_OUTCOMES = ("ok", "denied", "error")
RISK_STATES = ("active", "reducing", "halted")
ORDER_TYPES = ("market", "limit", "stop")
ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = (
    "pending", "submitted", "unknown", "partially_filled",
    "filled", "cancelled", "rejected", "error",
)
TERMINAL_ORDER_STATUSES = ("filled", "cancelled", "rejected", "error")
ORDER_SOURCES = ("strategy", "manual", "risk")
POSITION_SIDES = ("long", "short")
POSITION_STATUSES = ("open", "closed")
DECISION_ACTIONS = ("open", "close", "hold")


def check_in(column: str, values: tuple[str, ...]) -> str:
    """Return SQL for ``column IN (...)`` used by a CHECK constraint."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
