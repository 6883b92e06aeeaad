"""Message status transitions -> statistics counters and push items, inside the caller's
transaction (issue 7: "written in the same transaction as the status change").

Every place that changes a message's status (acceptance of refused numbers, submit outcomes,
interrupted submits, receipts, late receipts, the 72-hour sweeper) describes each change as a
`Transition` and calls `record`. It
- adds the change to `stats_daily` (one upsert per key and transaction: sent, success,
  failed, unknown, waiting, billed parts per China send day, signature, template, type,
  carrier), so statistics never scan records, and each failure to `stats_codes_daily` (per
  day, signature, template, carrier, channel and code: a population's leading codes);
- for a final status, writes an SmsReport item to the push outbox when the account has
  asked for receipts (a URL or the pull queue, `push_endpoints.receipt_url`).

Items carry the spec's field names (docs/push.md "Items") except `err_msg`, which the pusher adds
when it renders them (`webhooks/items.py`), plus `message_id`, `status` and an
`idempotency_key` (`<message id>-<status>`: a message reaches one final status only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import orjson
from sqlalchemy import Connection

from yizhan.domain.carriers import carrier_label, item_form
from yizhan.domain.events import Uplink
from yizhan.domain.model import AccountId, Message, MessageStatus, PhoneNumber, UplinkOwner
from yizhan.domain.push import (
    AUDIT_STATUS,
    CHANNEL_KEY,
    SMS_REPORT,
    SMS_UP,
    TOPIC_SETTING,
)
from yizhan.domain.timezone import china_text

_CHINA = timedelta(hours=8)  # Asia/Shanghai has had no daylight saving time since 1991
_CHINA_SECONDS = 8 * 3600
_COUNTERS = ("sent", "success", "failed", "unknown", "waiting", "billed_parts")
_INDEX = {name: i for i, name in enumerate(_COUNTERS)}
class Sql(Protocol):
    """The dialect helpers of `sql.HotSql`."""

    ts: Callable[[datetime], Any]
    read_ts: Callable[[Any], datetime]
    place: Callable[[str], str]


class Subject(NamedTuple):
    """A message as a change of its status concerns it: what the counters, the SmsReport
    item and billing need, with its current status; read in one go (`SUBJECT_COLUMNS`) where
    receipts find their messages, and made from the `Message` where the caller holds it."""

    id: int
    account_id: int
    phone: str
    sign_name: str
    template_code: str
    template_type: str
    segments: int
    biz_id: str
    out_id: str
    created_at: datetime
    channel: str = ""
    """The channel that reported the status, whose code table explains its code."""
    status: str = ""
    """The status before the change (a `MessageStatus` value)."""
    remote_id: str = ""
    part_price: int = 0


SUBJECT_COLUMNS = ", ".join(Subject._fields)
"""The columns of `messages` a `Subject` is read from, in its fields' order."""
_CREATED = Subject._fields.index("created_at")


def subject_of(m: Message) -> Subject:
    return Subject(id=m.id, account_id=m.account_id, phone=m.phone, sign_name=m.sign_name,
                   template_code=m.template_code, template_type=m.template_type.value,
                   segments=m.segments, biz_id=m.biz_id, out_id=m.out_id,
                   created_at=m.created_at, channel=m.channel, status=m.status.value,
                   remote_id=m.remote_id, part_price=m.part_price)


def subject_row(row: Sequence[Any], read_ts: Callable[[Any], datetime]) -> Subject:
    """A subject from a row of `SUBJECT_COLUMNS` (driver values: its time read by
    `read_ts` unless the driver gave an aware one)."""
    values = list(row)
    created = values[_CREATED]
    if not (isinstance(created, datetime) and created.tzinfo):
        values[_CREATED] = read_ts(created)
    return Subject._make(values)


@dataclass(frozen=True, slots=True)
class Transition:
    subject: Subject
    old: str | None
    """Status before (a `MessageStatus` value); None for a record just created."""
    new: str
    error_code: str
    at: datetime
    """When it happened: the receipt's time, or the decision's."""


def record(conn: Connection, sql: Sql, transitions: Sequence[Transition],
           now: datetime) -> None:
    if not transitions:
        return
    count(conn, sql, transitions)
    finals = [t for t in transitions if t.new != MessageStatus.WAITING.value]
    if finals:
        _report_finals(conn, sql, finals, now)


def _report_finals(conn: Connection, sql: Sql, finals: Sequence[Transition],
                   now: datetime) -> None:
    """SmsReport items for final statuses, for the accounts that asked for receipts."""
    targets = endpoints(conn, sql, {t.subject.account_id for t in finals}, SMS_REPORT)
    enqueue(conn, sql, [(t.subject.account_id, SMS_REPORT, t.subject.id, report_item(t))
                        for t in finals if targets.get(t.subject.account_id)], now)


def china_day(at: datetime) -> str:
    """`YYYYMMDD` of the China day of `at` (UTC-aware): the day statistics count it under."""
    return _day_text((at + _CHINA).toordinal())


@lru_cache(maxsize=1024)
def _day_text(ordinal: int) -> str:
    """Made once per day: `strftime` costs a microsecond, and a commit of many one-number
    requests has an instant per request."""
    return date.fromordinal(ordinal).strftime("%Y%m%d")


def record_accepted(conn: Connection, sql: Sql, accepted: Sequence[Message]) -> None:
    """`record` for records just created (the acceptance transaction, the hot path): the
    counters straight from the messages, and transitions only for the refused ones.

    Messages are first counted per (time, account, signature, template, type, segment,
    status) in one pass (a group commit holds a few requests of up to 1000 numbers each,
    which share all of these but the segment); the day, carrier and counter row are then
    worked out once per distinct group."""
    groups = Counter([(m.created_at, m.account_id, m.sign_name, m.template_code,
                       m.template_type, m.phone[:7], m.status) for m in accepted])
    deltas: dict[tuple[Any, ...], list[int]] = {}
    carriers: dict[str, str] = {}
    phones: dict[str, str] | None = None  # a number of each segment prefix
    final = False
    for (at, account_id, sign_name, code, kind, prefix, status), number in groups.items():
        day = china_day(at)
        carrier = carriers.get(prefix)  # the segment is at most 4 digits after +86
        if carrier is None:
            if phones is None:
                phones = {m.phone[:7]: m.phone for m in accepted}
            carrier = carriers[prefix] = carrier_label(phones[prefix])
        key = (account_id, day, sign_name, code, kind.value, carrier)
        row = deltas.get(key)
        if row is None:
            row = deltas[key] = [0] * len(_COUNTERS)
        row[0] += number
        row[_INDEX[status.value]] += number
        final = final or status.final
    if deltas:
        conn.exec_driver_sql(sql.place(_UPSERT), [(*k, *v) for k, v in sorted(deltas.items())])
    if final:
        count_codes(conn, sql, [(m.created_at, m.account_id, m.sign_name, m.template_code,
                                 m.phone, m.channel, m.error_code) for m in accepted
                                if m.status is MessageStatus.FAILED])
    if final:
        _report_finals(conn, sql, [Transition(subject_of(m), None, m.status.value,
                                              m.error_code, m.created_at)
                                   for m in accepted if m.status.final],
                       accepted[0].created_at)


def count(conn: Connection, sql: Sql, transitions: Sequence[Transition]) -> None:
    deltas: dict[tuple[Any, ...], list[int]] = {}
    for t in transitions:
        s = t.subject
        day = china_day(s.created_at)
        key = (s.account_id, day, s.sign_name, s.template_code, s.template_type,
               carrier_label(s.phone))
        row = deltas.get(key)
        if row is None:
            row = deltas[key] = [0] * len(_COUNTERS)
        if t.old is None:
            row[0] += 1
        else:
            row[_INDEX[t.old]] -= 1
        row[_INDEX[t.new]] += 1
        if t.new == MessageStatus.SUCCESS.value:
            row[5] += s.segments
    conn.exec_driver_sql(sql.place(_UPSERT), [(*k, *v) for k, v in sorted(deltas.items())])
    count_codes(conn, sql, [(t.subject.created_at, t.subject.account_id, t.subject.sign_name,
                             t.subject.template_code, t.subject.phone, t.subject.channel,
                             t.error_code) for t in transitions
                            if t.new == MessageStatus.FAILED.value
                            and t.old != MessageStatus.FAILED.value])


def count_codes(conn: Connection, sql: Sql,
                failures: Sequence[tuple[datetime, int, str, str, str, str, str]]) -> None:
    """Count failed messages (created at, account, signature, template, number, channel,
    code) in `stats_codes_daily`: the leading failure codes of a population
    (docs/diagnosis.md "A population"). Failed is final: a message is counted once."""
    if not failures:
        return
    deltas: Counter[tuple[Any, ...]] = Counter(
        (account_id, china_day(at), sign_name, template_code, carrier_label(phone),
         channel, code[:64]) for at, account_id, sign_name, template_code, phone, channel,
        code in failures)
    conn.exec_driver_sql(sql.place(_UPSERT_CODES), [(*k, n) for k, n in sorted(deltas.items())])


_UPSERT = (
    "INSERT INTO stats_daily (account_id, day, sign_name, template_code, template_type, "
    "carrier, sent, success, failed, unknown, waiting, billed_parts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, day, sign_name, template_code, template_type, carrier) "
    "DO UPDATE SET " + ", ".join(f"{c} = stats_daily.{c} + excluded.{c}" for c in _COUNTERS))
"""Sorted keys: concurrent PostgreSQL transactions lock the rows in the same order."""

_UPSERT_CODES = (
    "INSERT INTO stats_codes_daily (account_id, day, sign_name, template_code, carrier, "
    "channel, code, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, day, sign_name, template_code, carrier, channel, code) "
    "DO UPDATE SET failed = stats_codes_daily.failed + excluded.failed")


def endpoints(conn: Connection, sql: Sql, account_ids: Iterable[int],
              topic: str) -> dict[int, str]:
    """The configured target of `topic` (URL or `queue`) per account that has one."""
    ids = sorted(account_ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = conn.exec_driver_sql(sql.place(
        f"SELECT account_id, {TOPIC_SETTING[topic]} FROM push_endpoints "
        f"WHERE account_id IN ({marks})"), tuple(ids)).all()
    return {account_id: target for account_id, target in rows if target}


def enqueue(conn: Connection, sql: Sql,
            items: Sequence[tuple[int, str, int | None, dict[str, Any]]],
            now: datetime) -> None:
    """Write push items (account, topic, message id or None, item) to the outbox."""
    if not items:
        return
    at = sql.ts(now)
    conn.exec_driver_sql(sql.place(
        "INSERT INTO push_items (account_id, topic, message_id, payload, attempts, created_at, "
        "available_at, last_error) VALUES (?, ?, ?, ?, 0, ?, ?, '')"),
        [(account, topic, message_id, orjson.dumps(item).decode(), at, at)
         for account, topic, message_id, item in items])


def report_item(t: Transition) -> dict[str, Any]:
    """An SmsReport item (docs/push.md "Items"; `err_msg` is added when it is pushed)."""
    s = t.subject
    success = t.new == MessageStatus.SUCCESS.value
    code = t.error_code or ("DELIVERED" if success else "UNKNOWN")
    return {"phone_number": item_form(s.phone), "send_time": china_text(s.created_at),
            "report_time": china_text(t.at), "success": success, "err_code": code,
            "sms_size": str(s.segments), "biz_id": s.biz_id, "out_id": s.out_id,
            "sign_name": s.sign_name, "template_code": s.template_code,
            "message_id": str(s.id), "status": t.new,
            "idempotency_key": f"{s.id}-{t.new}", CHANNEL_KEY: s.channel}


def report_review(conn: Connection, sql: Sql, account_id: int, topic: str,
                  subject: dict[str, Any], state: str, reason: str, now: datetime) -> None:
    """A SignSmsReport or TemplateSmsReport item for an approval or a rejection, when the
    account has asked for review results (`review_url`)."""
    if state not in AUDIT_STATUS or not endpoints(conn, sql, [account_id], topic):
        return
    key = "-".join(str(v) for v in (topic, *subject.values(), state,
                                    int(now.timestamp() * 1000)))
    enqueue(conn, sql, [(account_id, topic, None, {
        **subject, "audit_status": AUDIT_STATUS[state], "audit_remark": reason,
        "audit_time": china_text(now), "idempotency_key": key})], now)


UPLINK_ATTRIBUTION = timedelta(days=7)
"""An uplink without a known extension code belongs to the account (and signature) that
last sent to its number within this time (docs/channels.md "Uplinks")."""


def _number(phone: str) -> PhoneNumber:
    return PhoneNumber(phone if phone.startswith("+") else "+86" + phone[-11:])


def uplink_owners(conn: Connection, sql: Sql,
                  items: Sequence[Uplink]) -> dict[int, UplinkOwner]:
    """The account and signature each uplink (by index) replied to: the signature whose id
    is the uplink's extension code, else the last sender to the number (the fallback for
    channels that cannot carry extension codes)."""
    wanted = {int(u.extension) for u in items if u.extension.isdigit()}
    signatures: dict[int, tuple[int, str]] = {}
    if wanted:
        ids = sorted(wanted)
        marks = ", ".join("?" * len(ids))
        signatures = {row[0]: (row[1], row[2]) for row in conn.exec_driver_sql(sql.place(
            f"SELECT id, account_id, name FROM signatures WHERE id IN ({marks})"), tuple(ids))}
    owners: dict[int, UplinkOwner] = {}
    accounts: list[int] | None = None
    for n, u in enumerate(items):
        number = _number(u.phone)
        found = signatures.get(int(u.extension)) if u.extension.isdigit() else None
        if found is not None:
            owners[n] = UplinkOwner(AccountId(found[0]), found[1], number,
                                    f"extension {u.extension}")
            continue
        if accounts is None:  # the index on (account_id, phone, created_at) wants accounts
            accounts = [row[0] for row in conn.exec_driver_sql("SELECT id FROM accounts")]
        if not accounts:
            continue
        marks = ", ".join("?" * len(accounts))
        last = conn.exec_driver_sql(sql.place(
            f"SELECT account_id, sign_name FROM messages WHERE account_id IN ({marks}) "
            "AND phone = ? AND created_at >= ? ORDER BY created_at DESC, id DESC LIMIT 1"),
            (*accounts, number, sql.ts(u.received_at - UPLINK_ATTRIBUTION))).first()
        if last is not None:
            owners[n] = UplinkOwner(AccountId(last[0]), last[1], number, "last sender")
    return owners


def store_uplink(conn: Connection, sql: Sql, owner: UplinkOwner | None, uplink: Uplink,
                 now: datetime) -> UplinkOwner | None:
    """Store one uplink for its owner (None: nobody's), with its SmsUp item if asked for."""
    number = _number(uplink.phone)
    uplink_id = conn.exec_driver_sql(sql.place(
        "INSERT INTO uplinks (account_id, sign_name, channel, phone, dest_code, content, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"),
        (owner.account_id if owner else None, owner.sign_name if owner else "",
         uplink.channel, number, uplink.dest_code, uplink.content,
         sql.ts(uplink.received_at))).scalar_one()
    if owner is None or not endpoints(conn, sql, [owner.account_id], SMS_UP):
        return owner
    enqueue(conn, sql, [(owner.account_id, SMS_UP, None, {
        "phone_number": item_form(number),
        "send_time": china_text(uplink.received_at), "content": uplink.content,
        "sign_name": owner.sign_name, "dest_code": uplink.dest_code,
        "sequence_id": uplink_id, "idempotency_key": f"up-{uplink_id}"})], now)
    return owner
