"""The relational schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Migrations in `storage/migrations/` create it; `tests/storage/test_migrations.py` checks that
the migrations and these tables agree. Times are stored as naive UTC and read back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

AutoId = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit autoincrement key (SQLite autoincrements only INTEGER PRIMARY KEY)."""


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.replace(tzinfo=UTC)


accounts = Table(
    "accounts", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

access_keys = Table(
    "access_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    # The secret is needed in clear to verify HMAC signatures (Alibaba API). See docs/security.md.
    Column("secret", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

qualifications = Table(
    "qualifications", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("use", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

signatures = Table(
    "signatures", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("scenario", String(16), nullable=False),
    Column("qualification_id", ForeignKey("qualifications.id"), nullable=True),
    Column("source", String(16), nullable=False, server_default="enterprise"),
    Column("remark", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name"),
)

templates = Table(
    "templates", metadata,
    Column("code", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("remark", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

messages = Table(
    "messages", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("biz_id", String(32), nullable=False, index=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("phone", String(24), nullable=False),
    Column("sign_name", String(64), nullable=False),
    Column("template_code", String(32), nullable=False),
    Column("template_type", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("out_id", String(256), nullable=False, default=""),
    Column("dispatch_state", String(16), nullable=False),
    Column("channel", String(64), nullable=False, default=""),
    Column("remote_id", String(64), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("submitted_at", UTCDateTime, nullable=True),
    Column("receipt_at", UTCDateTime, nullable=True),
    Index("ix_messages_account_phone_created", "account_id", "phone", "created_at"),
    Index("ix_messages_channel_remote", "channel", "remote_id"),
)

receipts = Table(
    "receipts", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", BigInteger, nullable=True, index=True),
    Column("channel", String(64), nullable=False),
    Column("remote_id", String(64), nullable=False),
    Column("code", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=False),
    Column("raw", Text, nullable=False, default=""),
    Column("done_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_receipts_unmatched", "channel", "remote_id"),
)

uplinks = Table(
    "uplinks", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=True, index=True),
    Column("channel", String(64), nullable=False),
    Column("phone", String(24), nullable=False),
    Column("dest_code", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("topic", String(32), nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Index("ix_outbox_topic_available", "topic", "available_at"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("stage", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("replayed_at", UTCDateTime, nullable=True),
)

nonces = Table(
    "nonces", metadata,
    # A request signature's nonce, remembered so that a replay is refused (SPEC.md §3.3).
    Column("access_key_id", String(32), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

keywords = Table(
    "keywords", metadata,
    # A blocked keyword of the content filter: platform-wide (account_id NULL) or an account's.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=True),
    Column("keyword", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "keyword"),
)

registrations = Table(
    "registrations", metadata,
    # An account's registration for international sending (toll-free number, Sender ID).
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("country", String(2), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "country", "kind", "value"),
)
