"""Implementations of `domain/ports.py` beside the SQL store: the in-process bus (`local`)
and the Redis frequency counter (`redis_rates`).

May import `domain/` and `runtime/` only. Imported only by the composition root (`app.py`)
and the operator CLI.
"""
