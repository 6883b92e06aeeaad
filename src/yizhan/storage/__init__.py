"""The SQL store (SQLite or PostgreSQL): `store.SqlStore` and one module per aggregate,
`sql.py` the helpers they share (hot statements, dialect forms, `Message` <-> row),
`tables.py` the schema, `migrations/` its history. Imports `domain/` only; imported by the
composition root (`app.py`) and the operator CLI."""
