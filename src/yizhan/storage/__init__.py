"""The SQL store (SQLAlchemy on SQLite or PostgreSQL): the tables (`tables`), `SqlStore`
(`store`) and one module per aggregate, `sql.py` the helpers they share (hot statements,
dialect forms, `Message` <-> row), the engine and migrations (`engine`, `migrate`, Alembic's
`migrations/`), sealed secrets and the data folder. It implements the ports of
`domain/ports.py` and the protocols the stages declare.

May import `domain/` and `runtime/` only. Imported only by the composition root (`app.py`)
and the operator CLI, which opens the store.
"""
