"""send tasks: a campaign from an imported file (docs/tasks.md)

`send_tasks` holds each task (its signature, template, state, schedule and rate),
`send_task_rows` its numbers (each marked with its message in the transaction that accepts
it), `send_task_rejects` the rows its import refused with their line numbers and reasons.

Revision ID: 0027_send_tasks
Revises: 0026_signature_details
Create Date: 2026-12-07 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027_send_tasks'
down_revision: str | None = '0026_signature_details'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'send_tasks',
        sa.Column('id', AutoId, nullable=False),
        sa.Column('account_id', AutoId, nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('sign_name', sa.String(length=64), nullable=False),
        sa.Column('template_code', sa.String(length=32), nullable=False),
        sa.Column('template_type', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('file_name', sa.String(length=128), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('duplicates', sa.Integer(), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('rate', sa.Float(), nullable=True),
        sa.Column('out_id', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('start_at', sa.DateTime(), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('source_task', sa.BigInteger(), nullable=True),
        sa.Column('last_error', sa.Text(), server_default='', nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_send_tasks_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_send_tasks')),
    )
    op.create_index('ix_send_tasks_account_id_id', 'send_tasks', ['account_id', 'id'])
    op.create_index('ix_send_tasks_state', 'send_tasks', ['state'])
    op.create_table(
        'send_task_rows',
        sa.Column('task_id', AutoId, nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=24), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['task_id'], ['send_tasks.id'],
                                name=op.f('fk_send_task_rows_task_id_send_tasks')),
        sa.PrimaryKeyConstraint('task_id', 'seq', name=op.f('pk_send_task_rows')),
    )
    op.create_index('ix_send_task_rows_pending', 'send_task_rows', ['task_id', 'seq'],
                    sqlite_where=sa.text("state = 'pending'"),
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        'send_task_rejects',
        sa.Column('task_id', AutoId, nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('value', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['send_tasks.id'],
                                name=op.f('fk_send_task_rejects_task_id_send_tasks')),
        sa.PrimaryKeyConstraint('task_id', 'line', name=op.f('pk_send_task_rejects')),
    )


def downgrade() -> None:
    op.drop_table('send_task_rejects')
    op.drop_index('ix_send_task_rows_pending', table_name='send_task_rows')
    op.drop_table('send_task_rows')
    op.drop_index('ix_send_tasks_state', table_name='send_tasks')
    op.drop_index('ix_send_tasks_account_id_id', table_name='send_tasks')
    op.drop_table('send_tasks')
