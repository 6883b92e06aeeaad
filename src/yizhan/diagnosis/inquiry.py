"""The questions a diagnosis answers: why did this message fail (by its id, or by BizId and
number), and what happened to this number on this China day.

Consumes the store (`gather.TrailStore`), the channels' code tables and, once the API call
log is there, the calls refused as a whole (`CallLog`, an optional source: a refused call
leaves no message, so "failed, but no record" is answered from it). Hands `Diagnosis`
values to the API and the CLI, which render them (`report.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from yizhan.diagnosis.gather import Facts, TrailStore, gather
from yizhan.diagnosis.verdicts import Verdict, judge
from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.ids import MAX_MESSAGE_ID
from yizhan.domain.model import (
    AccountId,
    BizId,
    Message,
    MessageId,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.timezone import china_day_bounds


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One message's facts and the verdict on them."""

    facts: Facts
    verdict: Verdict


class CallRecord(Protocol):
    """One API call as the call log keeps it: what a diagnosis by number reads of it."""

    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def code(self) -> str:
        """`OK`, or the code the whole call was refused with."""
        ...
    @property
    def detail(self) -> str:
        """The refusal's message, as the caller got it ("" when not kept)."""
        ...
    @property
    def sign_name(self) -> str: ...
    @property
    def template_code(self) -> str: ...


class CallLog(Protocol):
    """The API call log, as a diagnosis by number reads it (the call log's store)."""

    async def calls_for_number(self, account_id: AccountId, phone: str,
                               day: date) -> Sequence[CallRecord]: ...


@dataclass(frozen=True, slots=True)
class NumberDay:
    """What happened to one number on one China day: its messages, and the calls refused
    as a whole that named it (empty while no call log is wired)."""

    phone: PhoneNumber
    day: date
    messages: list[Diagnosis]
    refused_calls: list[tuple[CallRecord, Diagnosis]]
    call_log: bool
    """Whether refused calls were looked for (a call log is wired)."""


class Diagnoser:
    def __init__(self, store: TrailStore, codes: CodeBook = PLATFORM_BOOK,
                 calls: CallLog | None = None) -> None:
        self._store, self._codes, self._calls = store, codes, calls

    @property
    def codes(self) -> CodeBook:
        """The channels' code tables the diagnoses explain codes with."""
        return self._codes

    async def message(self, account_id: AccountId, message_id: int) -> Diagnosis | None:
        """The diagnosis of one of the account's messages; None: no such message of it."""
        if not 1 <= message_id <= MAX_MESSAGE_ID:
            return None
        found = await self._store.message(account_id, message_id)
        return await self.diagnose(found) if found is not None else None

    async def by_biz(self, account_id: AccountId, biz_id: str,
                     phone: PhoneNumber) -> list[Diagnosis]:
        found = await self._store.messages_of(account_id, biz_id=biz_id, phone=phone)
        return [await self.diagnose(m) for m in found]

    async def by_number(self, account_id: AccountId, phone: PhoneNumber,
                        day: date) -> NumberDay:
        start, end = china_day_bounds(day)
        found = await self._store.messages_of(account_id, phone=phone, start=start, end=end)
        diagnosed = [await self.diagnose(m) for m in found]
        refused: list[tuple[CallRecord, Diagnosis]] = []
        if self._calls is not None:
            for call in await self._calls.calls_for_number(account_id, phone, day):
                if call.code != "OK":
                    refused.append((call, await self.refused_call(account_id, phone, call)))
        return NumberDay(phone, day, diagnosed, refused, self._calls is not None)

    async def diagnose(self, message: Message) -> Diagnosis:
        facts = await gather(self._store, message, self._codes)
        return Diagnosis(facts, judge(facts))

    async def refused_call(self, account_id: AccountId, phone: PhoneNumber,
                           call: CallRecord) -> Diagnosis:
        """A call refused as a whole, diagnosed as the record it would have made: the same
        verdicts (a deleted template, a balance below zero, a signature that does not match
        its template), with the signature's, template's and account's facts."""
        template = await self._store.template(account_id, call.template_code)
        stand_in = Message.refused(
            id=MessageId(0), biz_id=BizId(""), account_id=account_id, phone=phone,
            sign_name=call.sign_name, template_code=TemplateCode(call.template_code),
            template_type=template.type if template else TemplateType.NOTIFICATION,
            content="", segments=0, out_id="", created_at=call.at, error_code=call.code,
            reason=call.detail)
        return await self.diagnose(stand_in)
