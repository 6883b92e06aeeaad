"""Records made per request are immutable for the type checker, not only said to be
(issue 15 point 7): `domain/frozen.py`'s `per_request`, a frozen dataclass to mypy and a
slotted one at run time (measured: domain/frozen.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

from yizhan.api.aliyun.actions import ActionContext
from yizhan.api.aliyun.auth import Authenticated, SignatureMismatch
from yizhan.api.aliyun.endpoint import Reply
from yizhan.api.aliyun.signing import Credentials, SignedRequest
from yizhan.intake.accept import SendAccepted, SendRequest
from yizhan.policy.flow_control import Admission

PER_REQUEST = (SignedRequest, Credentials, Authenticated, SignatureMismatch, ActionContext,
               Reply, SendRequest, SendAccepted, Admission)


@pytest.mark.parametrize("record", PER_REQUEST, ids=lambda r: r.__name__)
def test_per_request_records_are_marked_and_slotted(record: type) -> None:
    assert getattr(record, "__per_request__", False), f"{record.__name__}: not @per_request"
    assert "__slots__" in vars(record), f"{record.__name__} has no slots"


def test_the_type_checker_refuses_a_change_to_a_per_request_record(tmp_path: Path) -> None:
    code = ("from yizhan.api.aliyun.signing import Credentials\n"
            "c = Credentials('ACS3-HMAC-SHA256', 'key', 'signature', 'now', 'nonce')\n"
            "c.nonce = 'another'\n")
    config = tmp_path / "mypy.ini"  # not the project's, which names the files to check
    config.write_text("[mypy]\n")
    out, _, status = mypy_api.run(["--config-file", str(config), "--cache-dir",
                                   str(tmp_path / "cache"), "--follow-imports", "silent",
                                   "-c", code])
    assert status == 1 and 'Property "nonce" defined in "Credentials" is read-only' in out
