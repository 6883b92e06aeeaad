"""Records made per request are immutable, not only said to be: frozen dataclasses (issue 15
point 7). A record a later change unfreezes for speed fails here; measure it instead."""

from __future__ import annotations

import dataclasses

import pytest

from yizhan.api.aliyun.actions import ActionContext
from yizhan.api.aliyun.auth import Authenticated, SignatureMismatch
from yizhan.api.aliyun.endpoint import Reply
from yizhan.api.aliyun.signing import Credentials, SignedRequest
from yizhan.intake.accept import SendAccepted, SendRequest
from yizhan.policy.flow_control import Admission

PER_REQUEST = (SignedRequest, Credentials, Authenticated, SignatureMismatch, ActionContext,
               Reply, SendRequest, SendAccepted, Admission)


@pytest.mark.parametrize("record", PER_REQUEST, ids=lambda r: r.__name__)
def test_per_request_records_are_frozen_with_slots(record: type) -> None:
    params = record.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen, f"{record.__name__} is not frozen"
    assert "__slots__" in vars(record), f"{record.__name__} has no slots"


def test_a_frozen_request_record_refuses_a_change() -> None:
    request = Credentials("ACS3-HMAC-SHA256", "key", "signature", "2026-11-25T04:00:00Z", "n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.nonce = "another"  # type: ignore[misc]
