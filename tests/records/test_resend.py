"""Whether a failed number is worth sending to again, by error code (issue 14 point 19):
every code of ours that can end a record and every carrier code we explain has its answer,
and the tables name no code that does not exist."""

from __future__ import annotations

import pytest

from yizhan.domain.codes import TABLE
from yizhan.domain.errors import REGISTRY
from yizhan.records.resend import AFTER_CHANGE, LATER, NEVER, Resend, verdict


@pytest.mark.parametrize(("code", "answer"), [
    ("isv.MOBILE_NUMBER_ILLEGAL", Resend.NO),  # invalid number or a virtual operator
    ("isv.MOBILE_IN_BLACKLIST", Resend.NO),
    ("isv.MOBILE_OPTED_OUT", Resend.NO),
    ("MK:0001", Resend.NO),  # empty number
    ("DB:0141", Resend.NO),  # carrier blacklist
    ("w-black", Resend.NO),  # carriers' case varies
    ("UNDELIV", Resend.YES),
    ("MK:0023", Resend.YES),  # handset off
    ("isv.BUSINESS_LIMIT_CONTROL", Resend.YES),
    ("isv.PROMOTION_TIME_LIMIT", Resend.YES),
    (None, Resend.YES),  # an outcome never reported
    ("MK:0115", Resend.AFTER_CHANGE),  # spam interception: change the content
    ("isv.BLACK_KEY_CONTROL_LIMIT", Resend.AFTER_CHANGE),
    ("isv.AMOUNT_NOT_ENOUGH", Resend.AFTER_CHANGE),
    ("MA:0051", Resend.AFTER_CHANGE),  # family: gateway content interception
    ("MK:0999", Resend.YES),  # family of number states: may succeed later
    ("isv.SOMETHING_NEW", Resend.AFTER_CHANGE),  # a business code not yet classified
])
def test_verdicts(code: str | None, answer: Resend) -> None:
    assert verdict(code) is answer


def test_every_explained_carrier_code_and_business_code_is_classified() -> None:
    classified = NEVER | AFTER_CHANGE | LATER
    assert set(TABLE) - classified == set()
    business = {code for code in REGISTRY if code.startswith(("isv.", "isp."))}
    # Request-level codes refuse a whole request and never end a record, except these.
    never_on_a_record = {"isv.MOBILE_COUNT_OVER_LIMIT", "isv.INVALID_PARAMETERS",
                         "isv.PROMOTION_OPT_OUT_MISSING", "isv.ENTERPRISE_ACCOUNT_REQUIRED",
                         # the template review linter's, answered by template actions only
                         "isv.SMS_CONTENT_ILLEGAL", "isv.TEMPLATE_PARAMS_ILLEGAL",
                         # signature and qualification actions' own
                         "isv.SMS_SIGN_NAME_ILLEGAL", "isv.SMS_SIGN_SOURCE_CLOSED",
                         "isv.SMS_SIGN_COMPANY_MISMATCH", "isv.QUALIFICATION_INVALID",
                         "isv.QUALIFICATION_NAME_DUPLICATE", "isv.QUALIFICATION_NOT_EXIST",
                         "isv.QUALIFICATION_STATE_ILLEGAL", "isv.QUALIFICATION_IN_USE",
                         "isv.QUALIFICATION_NOT_APPROVED", "isv.AUTHORIZATION_LETTER_INVALID",
                         "isv.AUTHORIZATION_LETTER_NAME_DUPLICATE",
                         "isv.AUTHORIZATION_LETTER_NOT_COVERING",
                         "isv.DOCUMENT_NOT_UPLOADED",
                         # template actions' own
                         "isv.SMS_RELATED_SIGN_ILLEGAL",
                         # the registration trigger's (REST, CLI)
                         "isv.SIGNATURE_NOT_APPROVED",
                         # the send tasks' actions (docs/tasks.md)
                         "isv.TASK_FILE_TOO_LARGE", "isv.TASK_TOO_MANY_NUMBERS",
                         "isv.TASK_FILE_UNREADABLE", "isv.TASK_NO_NUMBERS",
                         "isv.TASK_MISSING_VARIABLE", "isv.TASK_NOT_FOUND",
                         "isv.TASK_STATE_CONFLICT", "isv.TASK_NOTHING_TO_RESEND"}
    assert business - classified - never_on_a_record == set()


def test_the_tables_name_only_codes_that_exist() -> None:
    known = set(REGISTRY) | set(TABLE) | {"ESME_RINVDSTADR"}
    assert (NEVER | AFTER_CHANGE | LATER) - known == set()
    assert not NEVER & AFTER_CHANGE and not NEVER & LATER and not AFTER_CHANGE & LATER
