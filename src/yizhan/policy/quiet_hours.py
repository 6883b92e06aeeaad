"""Promotion hours: a promotion to a mainland number is sent only from 08:00 to 22:00 China
time (docs/domain.md "Sending"). Verification codes, notifications and international numbers have
no window.

Runs per number (a request may mix mainland and international numbers) on the request's
moment `ctx.now` (the intake's injected clock). The window is [08:00:00, 22:00:00) in
Asia/Shanghai: 07:59:59 and 22:00:00 are refused, 08:00:00 and 21:59:59 pass.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.domain.timezone import CHINA
from yizhan.policy.numbers import is_mainland

if TYPE_CHECKING:
    from yizhan.policy.chain import SendContext

OPENS = time(8, 0)
CLOSES = time(22, 0)


def within_promotion_hours(moment: datetime) -> bool:
    return OPENS <= moment.astimezone(CHINA).time() < CLOSES


def promotion_hours(ctx: SendContext, index: int) -> Refusal | None:
    if (ctx.template is None or ctx.template.type is not TemplateType.PROMOTION
            or not is_mainland(ctx.numbers[index]) or within_promotion_hours(ctx.now)):
        return None
    at = ctx.now.astimezone(CHINA).strftime("%H:%M:%S")
    return Refusal("isv.PROMOTION_TIME_LIMIT",
                   f"it is {at} China time; promotions go out from {OPENS:%H:%M} to "
                   f"{CLOSES:%H:%M}", "promotion.hours")
