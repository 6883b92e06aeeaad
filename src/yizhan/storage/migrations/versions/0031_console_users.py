"""console users: the web console's people, sessions, failed logins and audit

`console_users` (login, argon2id hash, role, account), `console_sessions` (the SHA-256 of
a session's cookie token, its CSRF token, its end), `console_login_failures` (the login's
rate limit counts them) and `console_audit` (logins, unmasked records). docs/console.md.

Revision ID: 0031_console_users
Revises: 0030_api_call_detail
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031_console_users'
down_revision: str | None = '0030_api_call_detail'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'console_users',
        sa.Column('id', AutoId, autoincrement=True, nullable=False),
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('account_id', AutoId, nullable=True),
        sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_console_users_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_users')),
        sa.UniqueConstraint('login', name=op.f('uq_console_users_login')),
    )
    op.create_table(
        'console_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', AutoId, nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['console_users.id'],
                                name=op.f('fk_console_sessions_user_id_console_users')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_sessions')),
    )
    op.create_index('ix_console_sessions_user_id', 'console_sessions', ['user_id'])
    op.create_table(
        'console_login_failures',
        sa.Column('id', AutoId, autoincrement=True, nullable=False),
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_login_failures')),
    )
    op.create_index('ix_console_login_failures_login_at', 'console_login_failures',
                    ['login', 'at'])
    op.create_index('ix_console_login_failures_client_at', 'console_login_failures',
                    ['client', 'at'])
    op.create_table(
        'console_audit',
        sa.Column('id', AutoId, autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.BigInteger(), nullable=True),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_audit')),
    )
    op.create_index('ix_console_audit_account_id_id', 'console_audit', ['account_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_console_audit_account_id_id', table_name='console_audit')
    op.drop_table('console_audit')
    for name in ('ix_console_login_failures_client_at', 'ix_console_login_failures_login_at'):
        op.drop_index(name, table_name='console_login_failures')
    op.drop_table('console_login_failures')
    op.drop_index('ix_console_sessions_user_id', table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_table('console_users')
