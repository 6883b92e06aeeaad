"""Intake with the policy rules on a bare store (the CLI's `yizhan send` path, no cache):
what the per-number checks leave on the committed records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import ManualClock
from yizhan.backends.local import LocalBus
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import Message, MessageStatus, RegistrationKind, TemplateType
from yizhan.intake.accept import Intake, SendAccepted, SendRequest
from yizhan.policy.chain import Recipient
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.storage.store import SqlStore


@pytest.fixture
async def intake(store: SqlStore, clock: ManualClock) -> AsyncIterator[Intake]:
    committer: Batcher[Message] = Batcher("intake", store.accept, clock)
    committer.start()
    yield Intake(store, committer, clock, IdGenerator(), LocalBus(), PolicyLists(store, clock, 0))
    await committer.stop()


@pytest.fixture
async def demo(store: SqlStore, clock: ManualClock) -> Demo:
    return await ensure_demo(store, clock.now())


def verification(demo: Demo, phones: list[str], code: str = "0207") -> SendRequest:
    return SendRequest(demo.templates[TemplateType.VERIFICATION].code,
                       [Recipient(p, demo.signature.name, {"code": code}) for p in phones])


async def test_records_carry_the_refusal_or_the_voice_note(
        intake: Intake, demo: Demo, store: SqlStore) -> None:
    result = await intake.send(demo.account, verification(
        demo, ["13800138000", "16712345678", "+84987654321", "+12025550123"]))
    assert isinstance(result, SendAccepted)
    stored = {m.phone: m for m in await store.messages_by_biz(demo.account.id, result.biz_id)}
    assert stored["+8613800138000"].status is MessageStatus.WAITING
    assert stored["+8613800138000"].reason == ""
    assert (stored["+8616712345678"].status, stored["+8616712345678"].error_code) == (
        MessageStatus.FAILED, "isv.MOBILE_NUMBER_ILLEGAL")
    assert stored["+84987654321"].status is MessageStatus.WAITING
    assert stored["+84987654321"].reason.startswith("international.voice: Vietnam")
    assert stored["+12025550123"].error_code == "isv.COUNTRY_REGISTRATION_REQUIRED"
    assert stored["+12025550123"].reason.startswith("international.country: United States")
    assert await store.pending_dispatch() == 2


async def test_without_cache_lists_apply_at_once(
        intake: Intake, demo: Demo, store: SqlStore, clock: ManualClock) -> None:
    assert isinstance(await intake.send(demo.account, verification(demo, ["13800138000"])),
                      SendAccepted)
    await store.add_keywords(demo.account.id, ["0207"], clock.now())
    refused = await intake.send(demo.account, verification(demo, ["13800138000"]))
    assert isinstance(refused, Refusal) and refused.code == "isv.BLACK_KEY_CONTROL_LIMIT"
    await store.add_registration(demo.account.id, "US", RegistrationKind.TOLL_FREE,
                                 "+18005550100", clock.now())
    sent = await intake.send(demo.account, verification(demo, ["+12025550123"], "1"))
    assert isinstance(sent, SendAccepted)
