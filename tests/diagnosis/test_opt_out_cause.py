"""The opt-out cause (issue 18 point 5), apart from `test_causes.py`: an opt-out refuses
promotions, and promotions go out only from 08:00 to 22:00 China time, so this test runs on
a clock that reads noon in China whatever the hour of the run (REST only: no SDK signs
with the real time here)."""

from __future__ import annotations

import pytest

from tests.api.test_policy_state import ChinaNoonClock
from tests.api.test_rest import fresh_number
from tests.conftest import Running, eventually
from tests.diagnosis.test_causes import diagnosis, refused_by, refused_message, verdict
from yizhan.domain.model import PhoneNumber, TemplateType
from yizhan.domain.ports import Clock


@pytest.fixture
def running_clock() -> Clock:
    return ChinaNoonClock()


async def test_opt_out_names_the_reply_and_its_date(running: Running) -> None:
    number = fresh_number()
    store, account = running.yz.store, running.demo.account
    await store.add_opt_out(account.id, running.demo.signature.name,
                            PhoneNumber(f"+86{number}"), "uplink R", running.yz.clock.now())
    promotion = running.demo.templates[TemplateType.PROMOTION].code
    message = await eventually(lambda: refused_message(running, number, promotion),
                               what="the opt-out list loaded")
    body = await diagnosis(running, message["message_id"])
    assert verdict(body) == ("opt_out", "platform")
    assert refused_by(body) == [("promotion.opt_out", "isv.MOBILE_OPTED_OUT")]
    assert body["lists"]["opt_outs"][0]["source"] == "uplink R"
    assert "source uplink R" in body["verdict"]["what"]["en"]
