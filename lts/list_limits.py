"""How much one answer may hold: the sizes the services clamp to and the schemas check.

Both sides need the same numbers: the API schemas refuse a ``per_page`` or
``max_points`` past the limit (a clear 422 naming the field), the services clamp
whatever other callers pass. They live below both, so schemas import no service.
"""

DEFAULT_PER_PAGE = 50
#: Rows in one page of any list (orders, positions, audit log...).
MAX_PER_PAGE = 200
#: Points in one statistics series; longer ranges are averaged into buckets.
MAX_POINTS = 1000
