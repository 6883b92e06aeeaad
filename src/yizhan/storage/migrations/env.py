"""Alembic environment: migrations run on a connection handed in by `storage.migrate`."""

from alembic import context

from yizhan.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
