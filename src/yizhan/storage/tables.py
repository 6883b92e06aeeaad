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
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
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
    # Money in thousandths of a yuan (厘); docs/billing.md.
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("part_price", Integer, nullable=True),
)

account_events = Table(
    "account_events", metadata,
    # Every suspension and resumption of an account: who, when and why (docs/billing.md,
    # "Suspending an account"). The account's `status` is the current state.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

access_keys = Table(
    "access_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    # Sealed under the master key (storage/sealing.py): the store opens it to verify HMAC
    # signatures, which need it in clear. See docs/security.md.
    Column("secret", String(160), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

master_key_check = Table(
    "master_key_check", metadata,
    # One row: a known text sealed under the master key, so that a start with a wrong or
    # missing key stops with a clear message (storage/data_folder.py).
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", Text, nullable=False),
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
    # The SDK's SubmitSmsQualification fields (docs/compliance.md "Qualifications"); rows
    # written by `accounts verify-enterprise` leave them empty.
    Column("order_id", BigInteger, nullable=False, server_default="0"),
    Column("company_type", String(32), nullable=False, server_default=""),
    Column("company_name", String(150), nullable=False, server_default=""),
    Column("organization_code", String(150), nullable=False, server_default=""),
    Column("license_valid", String(32), nullable=False, server_default=""),
    Column("legal_person_name", String(50), nullable=False, server_default=""),
    Column("legal_person_id_type", String(32), nullable=False, server_default=""),
    Column("legal_person_id_no", String(64), nullable=False, server_default=""),
    Column("legal_person_id_valid", String(32), nullable=False, server_default=""),
    Column("admin_name", String(50), nullable=False, server_default=""),
    Column("admin_id_type", String(32), nullable=False, server_default=""),
    Column("admin_id_no", String(64), nullable=False, server_default=""),
    Column("admin_id_valid", String(32), nullable=False, server_default=""),
    Column("admin_phone", String(32), nullable=False, server_default=""),
    Column("share", Boolean, nullable=False, server_default=false()),
    Column("remark", Text, nullable=False, server_default=""),
    Column("documents", Text, nullable=False, server_default="[]"),
    # JSON: [[role, reference], ...] (domain/model.py `Qualification.documents`)
    Column("reviewed_at", UTCDateTime, nullable=True),
    # Names are unique per account among the qualifications not deleted (a deleted one's
    # name is free again): a partial unique index (migration 0025).
    Index("uq_qualifications_account_id_name", "account_id", "name", unique=True,
          sqlite_where=text("state != 'deleted'"), postgresql_where=text("state != 'deleted'")),
)

qualification_documents = Table(
    "qualification_documents", metadata,
    # The documents an account uploaded (docs/compliance.md "Document uploads"): the key
    # it gave (under its StartPath), the file's name in <data>/uploads/<account id>/, what
    # the content is; a key is written once.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("file", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "key"),
)

qualification_decisions = Table(
    "qualification_decisions", metadata,
    # Every step of a qualification's review, audited: the account's submissions and
    # updates (each opens a review ticket, `order_id`) and the operator's decisions.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("qualification_id", ForeignKey("qualifications.id"), nullable=False, index=True),
    Column("order_id", BigInteger, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
)

review_decisions = Table(
    "review_decisions", metadata,
    # Every operator decision on a signature or a template, audited (the row itself keeps
    # only the latest state and reason): kind "signature" (subject: its id) or "template"
    # (subject: its code).
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # "review" (an operator's decision), or the tenant's own "delete", "resubmit" or
    # "change_qualification" (0026): who did what, when, on which item.
    Column("action", String(24), nullable=False, server_default="review"),
    Index("ix_review_decisions_kind_subject", "kind", "subject"),
)

authorization_letters = Table(
    "authorization_letters", metadata,
    # Letters of authorization (委托授权书), the SDK's CreateSmsAuthorizationLetter fields
    # (docs/compliance.md "Authorization letters"); names unique per account. Their State
    # and Status are computed (compliance/letters.py), never stored.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("authorizing", String(150), nullable=False),
    Column("organization_code", String(150), nullable=False),
    Column("authorized", String(150), nullable=False),
    Column("signs", Text, nullable=False),  # JSON: ["name", ...]
    Column("valid", String(32), nullable=False),
    Column("document", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name"),
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
    Column("test", Boolean, nullable=False, server_default=false()),
    Column("letter_id", ForeignKey("authorization_letters.id"), nullable=True),
    # CreateSmsSign / UpdateSmsSign's material for the reviewer (0026): ApplySceneContent,
    # MoreData (a JSON array of file references), AppIcpRecordId, TrademarkId.
    Column("apply_scene", Text, nullable=False, server_default=""),
    Column("files", Text, nullable=False, server_default=""),
    Column("app_icp_record_id", BigInteger, nullable=True),
    Column("trademark_id", BigInteger, nullable=True),
    UniqueConstraint("account_id", "name"),
)

signature_registrations = Table(
    "signature_registrations", metadata,
    # Carrier real-name registration, one row per signature and sub-port (a channel that
    # serves a carrier; domain/registration.py). `state` is the SDK's RegisterStatus,
    # `reasons` a JSON list of its reason codes.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("signature_id", ForeignKey("signatures.id"), nullable=False),
    Column("isp", String(8), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("sub_port", String(32), nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("qualification_id", ForeignKey("qualifications.id"), nullable=True),
    Column("requested_at", UTCDateTime, nullable=True),
    Column("due_at", UTCDateTime, nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("deliveries", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("signature_id", "channel"),
    Index("ix_signature_registrations_state_due_at", "state", "due_at"),
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
    Column("test", Boolean, nullable=False, server_default=false()),
    Column("related_sign_name", String(64), nullable=False, server_default=""),
    Column("variable_attribute", Text, nullable=False, server_default=""),
    Column("intl_type", Integer, nullable=True),
    Column("apply_scene", Text, nullable=False, server_default=""),
    Column("reviewed_at", UTCDateTime, nullable=True),
)

UNANSWERED = "status = 'unknown' AND remote_id = ''"
"""A message a lost submit answer left unknown (no remote id): storage/unmatched.py."""
messages = Table(
    "messages", metadata,
    # On SQLite the id is the rowid (INTEGER): no separate primary-key index to write.
    Column("id", AutoId, primary_key=True, autoincrement=False),
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
    Column("part_price", Integer, nullable=False, server_default="0"),
    Column("charge", BigInteger, nullable=False, server_default="0"),
    Column("package_parts", Integer, nullable=False, server_default="0"),
    Column("charged_at", UTCDateTime, nullable=True),
    # Why the message went to its channel: the router's decision (docs/channels.md).
    Column("route", Text, nullable=False, server_default=""),
    # The verdict of every policy rule for this number, encoded (docs/policy.md "The
    # trail"); NULL for messages accepted before trails were kept.
    Column("policy_trail", Text, nullable=True),
    Index("ix_messages_account_phone_created", "account_id", "phone", "created_at"),
    # The console's records (storage/messages.py `query_messages`): an account's period,
    # newest first, is a range of this index. On SQLite its entries end with the rowid (the
    # id), so the page's order (created_at, id) is the index's; PostgreSQL sorts only the
    # messages of one instant by id (an incremental sort). The id as a third column would
    # make SQLite's index a fifth larger (it would keep the id twice).
    Index("ix_messages_account_created", "account_id", "created_at"),
    # Receipts find their message by (channel, remote id). The remote id first: it is what
    # the lookup asks for by value, so no planner can take the channel alone as the way in
    # (on PostgreSQL without statistics it did, reading every submitted message of the
    # channel; docs/architecture.md "PostgreSQL under churn"). Partial: a message gets its
    # remote id when its channel accepts it, so accepting a message writes nothing here.
    Index("ix_messages_remote_channel", "remote_id", "channel",
          sqlite_where=text("remote_id <> ''"), postgresql_where=text("remote_id <> ''")),
    # The messages a lost submit answer left unknown without a remote id: an unmatched
    # receipt may name one by its handset and submit date (storage/unmatched.py). Partial:
    # only those few rows.
    Index("ix_messages_unknown_unanswered", "channel", "phone",
          sqlite_where=text(UNANSWERED), postgresql_where=text(UNANSWERED)),
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
    # What the receipt says of its submit besides the id: the handset (+country code) and
    # the carrier's submit date; and when it was given up as matching no message.
    Column("phone", String(24), nullable=False, server_default=""),
    Column("submitted_at", UTCDateTime, nullable=True),
    Column("unmatched_at", UTCDateTime, nullable=True),
    # Only the receipts that matched no message (`yizhan receipts unmatched`): a receipt
    # matched when stored, nearly every one, writes no entry here.
    Index("ix_receipts_unmatched", "channel", "remote_id",
          sqlite_where=text("message_id IS NULL"), postgresql_where=text("message_id IS NULL")),
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
    Column("sign_name", String(64), nullable=False, server_default=""),
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
    # The dispatch order (domain/priority.py): when the item became due plus its class's
    # offset. The claim walks this index in order and skips items not yet due. Every item
    # is a dispatch item (the push outbox is `push_items`): the topic is not part of the
    # index, which a planner without statistics took as the way in, reading and sorting
    # every waiting item at each claim (docs/architecture.md "PostgreSQL under churn").
    Column("rank_at", UTCDateTime, nullable=False),
    Index("ix_outbox_rank", "rank_at", "id"),
    # Ids never come back (SQLite would reuse the highest after a delete): the highest id
    # counts what ever entered the outbox, which backpressure reads (policy/backpressure.py).
    sqlite_autoincrement=True,
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
    # A request signature's nonce, remembered so that a replay is refused
    # (docs/aliyun.md "Check order").
    Column("access_key_id", String(32), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

nonce_log = Table(
    "nonce_log", metadata,
    # Nonces as the one process that accepts signed requests appends them (rate_backend =
    # "sql": storage/nonces.py, `NonceWindow`); read back into its memory at start.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("access_key_id", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

# Account state the policy chain and billing need (docs/policy.md, docs/billing.md).

packages = Table(
    "packages", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("parts", Integer, nullable=False),
    Column("parts_left", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

topups = Table(
    "topups", metadata,
    # Every credit to a balance, for the account's statement; charges are on the messages.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

test_numbers = Table(
    "test_numbers", metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("phone", String(24), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

list_versions = Table(
    "list_versions", metadata,
    # One counter per snapshot list (blacklist, opt_outs). A change bumps its list's counter
    # and stamps its rows with the new value in the same transaction; the bump locks the
    # counter row until commit, so versions become visible in order and a reader that asks
    # for "version > last seen" never misses a row (see storage/lists.py).
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

opt_outs = Table(
    "opt_outs", metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("sign_name", String(64), primary_key=True),
    Column("phone", String(24), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("version", BigInteger, nullable=False, index=True),
)

blacklist = Table(
    "blacklist", metadata,
    Column("phone", String(24), primary_key=True),
    # Signature names concerned; an empty list means every signature.
    Column("signatures", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    Column("version", BigInteger, nullable=False, index=True),
)


# --- receipts and replies reach tenants (issue 7): push settings, push outbox, statistics ---

push_endpoints = Table(
    "push_endpoints", metadata,
    # Where an account's receipts, uplinks and review results go: an http(s) URL (batch
    # push), `queue` (kept for the pull API), or "" (not produced). See docs/push.md.
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("receipt_url", Text, nullable=False, server_default=""),
    Column("uplink_url", Text, nullable=False, server_default=""),
    Column("review_url", Text, nullable=False, server_default=""),
    # Signs each push (HMAC-SHA256); sealed under the master key like AccessKey secrets.
    Column("secret", String(160), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

push_items = Table(
    "push_items", metadata,
    # The durable push outbox: one SmsReport / SmsUp / SignSmsReport / TemplateSmsReport
    # item, written in the transaction of the change it reports; deleted once delivered
    # (or acknowledged on the pull queue), or moved to dead_letters.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("topic", String(24), nullable=False),
    Column("message_id", BigInteger, nullable=True, index=True),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Index("ix_push_items_available", "available_at"),
    Index("ix_push_items_account_topic", "account_id", "topic", "id"),
)

stats_daily = Table(
    "stats_daily", metadata,
    # Incremental counters per China send day, signature, template, type and carrier,
    # updated in the transactions that change message status (storage/reports.py).
    Column("account_id", BigInteger, primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("sign_name", String(64), primary_key=True),
    Column("template_code", String(32), primary_key=True),
    Column("template_type", String(16), primary_key=True),
    Column("carrier", String(16), primary_key=True),
    Column("sent", BigInteger, nullable=False, default=0),
    Column("success", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("unknown", BigInteger, nullable=False, default=0),
    Column("waiting", BigInteger, nullable=False, default=0),
    Column("billed_parts", BigInteger, nullable=False, default=0),
)

stats_codes_daily = Table(
    "stats_codes_daily", metadata,
    # Failed messages per China send day, signature, template, carrier, reporting channel
    # and code, counted in the same transactions as `stats_daily` (storage/reports.py): the
    # leading failure codes of a population (docs/diagnosis.md "A population"), without
    # reading records. The channel ("" for the platform's own refusals) names the code
    # table that explains the code.
    Column("account_id", BigInteger, primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("sign_name", String(64), primary_key=True),
    Column("template_code", String(32), primary_key=True),
    Column("carrier", String(16), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("failed", BigInteger, nullable=False, default=0),
)

_WAITING_SUBMITTED = "status = 'waiting' AND submitted_at IS NOT NULL"
messages_waiting = Index(
    # The 72-hour sweeper's way to the submitted messages still waiting for a receipt: a
    # partial index, so it holds only those and costs little to keep (a message enters it
    # when submitted, not when accepted).
    "ix_messages_waiting_submitted", messages.c.submitted_at,
    sqlite_where=text(_WAITING_SUBMITTED), postgresql_where=text(_WAITING_SUBMITTED),
)


# Content filter and international registrations (docs/policy.md).

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


# Frequency control (policy/frequency.py, storage/rate_counters.py, storage/frequency.py).

rate_counters = Table(
    "rate_counters", metadata,
    # The windows of one frequency counter key (storage/rate_counters.py); times are
    # milliseconds since the epoch, a count of 0 means no open window of that kind. Rows are
    # numbered by the id generator as keys first count (time-ordered, so new rows append
    # instead of landing on a random page, which would cost a page write each).
    Column("id", AutoId, primary_key=True, autoincrement=False),
    Column("key", String(255), nullable=False),
    Column("minute_start", BigInteger, nullable=False),
    Column("minute_count", Integer, nullable=False),
    Column("hour_start", BigInteger, nullable=False),
    Column("hour_count", Integer, nullable=False),
    Column("day_start", BigInteger, nullable=False),
    Column("day_count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

rate_counter_log = Table(
    "rate_counter_log", metadata,
    # Per group commit, the entries of the frequency-counter keys it changed
    # (storage/rate_counters.py): JSON `[[key, ...], [hex entry, ...]]`, an emptied key as
    # 0x0. Replayed in id order at start; `written_at` (ms) says when it can be purged.
    Column("id", AutoId, primary_key=True, autoincrement=False),
    Column("written_at", BigInteger, nullable=False, index=True),
    Column("entries", LargeBinary, nullable=False),
)

account_rate_limits = Table(
    "account_rate_limits", metadata,
    # An account's own, lower frequency limit for one rule.
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("max_count", Integer, nullable=False),
)

rate_whitelist = Table(
    "rate_whitelist", metadata,
    # Numbers an enterprise-verified account exempts from the platform's limits.
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("phone", String(24), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
)

rate_settings_audit = Table(
    "rate_settings_audit", metadata,
    # Every change of frequency settings: who, when, what, old and new value.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("item", String(64), nullable=False),
    Column("old", Text, nullable=False),
    Column("new", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_rate_settings_audit_account_at", "account_id", "at"),
)

process_leases = Table(
    "process_leases", metadata,
    # Who holds a role only one process may have at a time (`runtime/process_lease.py`):
    # "rate_counters", the process that keeps the embedded frequency counters
    # (rate_backend = "sql"). Renewed while the holder lives; taken over once expired.
    Column("name", String(64), primary_key=True),
    Column("holder", String(32), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("node", String(255), nullable=False),
    Column("url", String(255), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

send_tasks = Table(
    "send_tasks", metadata,
    # Send tasks (docs/tasks.md): a campaign from an imported file; its numbers are
    # `send_task_rows`, the rows its import refused `send_task_rejects`.
    Column("id", AutoId, primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("sign_name", String(64), nullable=False),
    Column("template_code", String(32), nullable=False),
    Column("template_type", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("file_name", String(128), nullable=False),
    Column("total", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("params", Text, nullable=False),
    Column("rate", Float, nullable=True),
    Column("out_id", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("start_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("source_task", BigInteger, nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Index("ix_send_tasks_account_id_id", "account_id", "id"),
    Index("ix_send_tasks_state", "state"),
)

send_task_rows = Table(
    "send_task_rows", metadata,
    # One number of a task; `message_id` is set in the transaction that accepts its message
    # (storage/tasks.py `mark_task_rows`), so a row is sent at most once.
    Column("task_id", ForeignKey("send_tasks.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("line", Integer, nullable=False),
    Column("phone", String(24), nullable=False),
    Column("params", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("message_id", BigInteger, nullable=True),
    # The feeder reads the next pending rows of a task: only those are in this index.
    Index("ix_send_task_rows_pending", "task_id", "seq",
          sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
)

send_task_rejects = Table(
    "send_task_rejects", metadata,
    Column("task_id", ForeignKey("send_tasks.id"), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("value", String(64), nullable=False),
    Column("reason", Text, nullable=False),
)

api_calls = Table(
    "api_calls", metadata,
    # The API call log (domain/calls.py, docs/diagnosis.md "The API call log"): one row per
    # call of either API, refused ones included. The id is made in process from the call's
    # time (`IdGenerator.next_id(at)`, as message ids): it is the call's time (`moment_of`),
    # so a day is a primary-key range and the purge deletes the first ids, and a call's
    # numbers are written in the same batch without reading ids back.
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(96), nullable=False),
    Column("account_id", BigInteger, nullable=True),  # NULL: the AccessKey is unknown
    Column("key_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("http_status", SmallInteger, nullable=False),
    Column("code", String(64), nullable=False),
    Column("number_count", Integer, nullable=False),
    Column("numbers", Text, nullable=False),  # the first NUMBERS_KEPT, comma-separated
    Column("sign_name", String(64), nullable=False),
    Column("template_code", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("biz_id", String(32), nullable=True),  # an accepted send's BizId
    # A refused call's answer message, as its caller got it (domain/calls.py DETAIL_CHARS).
    Column("detail", String(512), nullable=False, server_default=""),
    Index("ix_api_calls_account_id_id", "account_id", "id"),
    Index("ix_api_calls_biz_id", "biz_id", sqlite_where=text("biz_id IS NOT NULL"),
          postgresql_where=text("biz_id IS NOT NULL")),
)

api_call_numbers = Table(
    "api_call_numbers", metadata,
    # The numbers of calls that have no message records (every call but an accepted send,
    # whose records carry its numbers and its BizId), so a refused call is found by number.
    Column("call_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", SmallInteger, primary_key=True, autoincrement=False),
    Column("phone", String(32), nullable=False),
    Index("ix_api_call_numbers_phone_call_id", "phone", "call_id"),
)

console_users = Table(
    "console_users", metadata,
    # People who log in to the web console (docs/console.md): a password hashed with
    # argon2id, never the password; `account_id` is NULL for operators.
    Column("id", AutoId, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("account_id", ForeignKey("accounts.id"), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
)

console_sessions = Table(
    "console_sessions", metadata,
    # Server-side sessions: the cookie carries a random token, the store only its SHA-256,
    # with the session's CSRF token and its end.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("console_users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_user_id", "user_id"),
)

console_login_failures = Table(
    "console_login_failures", metadata,
    # Failed logins of the last window, by login and by client address: the login's rate
    # limit counts them (in the store, so that every process counts the same).
    Column("id", AutoId, primary_key=True),
    Column("login", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_console_login_failures_login_at", "login", "at"),
    Index("ix_console_login_failures_client_at", "client", "at"),
)

console_audit = Table(
    "console_audit", metadata,
    # What people did in the console that must be answerable: logins, an unmasked record.
    Column("id", AutoId, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("login", String(64), nullable=False),
    Column("account_id", BigInteger, nullable=True),
    Column("action", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Index("ix_console_audit_account_id_id", "account_id", "id"),
)
