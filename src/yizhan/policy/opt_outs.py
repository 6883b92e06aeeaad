"""Promotion opt-outs: a number that replied `R` to a signature's promotion never receives
that signature's promotions again, and the sender cannot lift it (docs/domain.md "Sending").

The uplink stage records opt-outs (`add_opt_out`), operators may add them (`yizhan opt-outs
add`); nobody removes them. Only promotion templates are concerned: verification codes and
notifications of the same signature still reach the number. Per number: an opted-out number
becomes a failed record with `isv.MOBILE_OPTED_OUT`.
"""

from __future__ import annotations

from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber, TemplateType
from yizhan.policy import numbers
from yizhan.policy.lists import OptOuts


def check(opt_outs: OptOuts, template_type: TemplateType, account_id: int, sign_name: str,
          phone: str) -> Refusal | None:
    if template_type is TemplateType.PROMOTION and opt_outs.refused(account_id, sign_name,
                                                                    phone):
        shown = numbers.display(PhoneNumber(phone))
        return Refusal("isv.MOBILE_OPTED_OUT",
                       f"{shown} opted out of the promotions of {sign_name!r}",
                       "promotion.opt_out")
    return None
