"""storage/sql.py: the column lists of `messages` come from `Message`'s fields, and a message
goes through the hot statements (acceptance, claim) and the compiled reads unchanged."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from yizhan.domain.model import (
    SET_AFTER_ACCEPTANCE,
    AccountId,
    BizId,
    DispatchState,
    Message,
    MessageId,
    MessageStatus,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.storage.reports import Subject
from yizhan.storage.sql import ACCEPT_COLUMNS, MESSAGE_COLUMNS, HotSql, read_message
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import messages


def test_message_fields_and_the_columns_of_messages_are_the_same() -> None:
    """A column without a field (or a field without a column) fails here: add both."""
    assert MESSAGE_COLUMNS == Message._fields
    assert set(MESSAGE_COLUMNS) == set(messages.c.keys())
    assert set(Subject._fields) <= set(messages.c.keys())


def test_acceptance_writes_every_field_but_those_set_later() -> None:
    assert set(ACCEPT_COLUMNS) == set(Message._fields) - set(SET_AFTER_ACCEPTANCE)
    for postgres in (False, True):
        sql = HotSql(postgres)
        head, row = sql.insert_message
        assert head.startswith(f"INSERT INTO messages ({', '.join(ACCEPT_COLUMNS)}")
        assert row.count("?") == len(ACCEPT_COLUMNS)
        assert ", ".join(f"m.{name}" for name in Message._fields) in sql.due


def every_field_set(clock: ManualClock, account_id: AccountId) -> Message:
    """A message whose every field differs from its default."""
    at = clock.now()
    return Message(id=MessageId(4242), biz_id=BizId("4242^0"), account_id=account_id,
                   phone=PhoneNumber("+8613800138000"), sign_name="驿站",
                   template_code=TemplateCode("SMS_9"), template_type=TemplateType.PROMOTION,
                   content="【驿站】all", segments=3, status=MessageStatus.SUCCESS,
                   error_code="E1", out_id="out", created_at=at,
                   dispatch_state=DispatchState.QUEUED, channel="cmcc", remote_id="r-9",
                   submitted_at=at + timedelta(seconds=1), receipt_at=at + timedelta(seconds=2),
                   reason="why", part_price=45, charge=135, package_parts=1,
                   charged_at=at + timedelta(seconds=3), route="default: cmcc")


async def test_a_new_message_is_written_and_read_back_field_for_field(
        store: SqlStore, clock: ManualClock) -> None:
    """Every field acceptance writes comes back from both reads; those set later come back
    as their defaults (a column without a usable default fails the insert)."""
    account = await store.create_account("acme", clock.now())
    given = every_field_set(clock, account.id)
    new = given._replace(**{name: Message._field_defaults[name]
                            for name in SET_AFTER_ACCEPTANCE})
    await store.accept([given])
    assert await store.message(account.id, given.id) == new  # compiled read
    [claim], _ = await store.claim_dispatch(clock.now(), 10, timedelta(minutes=5))
    assert claim.message == new  # the claim's driver read


def test_reading_driver_values_converts_enums_and_times_only() -> None:
    clock = ManualClock()
    message = every_field_set(clock, AccountId(1))
    values = [getattr(v, "value", v) for v in message]
    values = [f"t{v.isoformat()}" if hasattr(v, "tzinfo") else v for v in values]
    read = read_message(values, lambda text: clock.now().fromisoformat(text[1:]))
    assert read == message
    assert all(type(a) is type(b) for a, b in zip(read, message, strict=True))
