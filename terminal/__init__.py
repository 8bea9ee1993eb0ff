"""`coins top` (live terminal dashboard) and `coins sql`, on a ClickHouse server or embedded."""
