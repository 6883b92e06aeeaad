"""One call of an API as the call log keeps it (docs/diagnosis.md "The API call log").

Every request to the Alibaba-compatible endpoint or the native REST API leaves one `ApiCall`,
accepted or refused, so that a send refused as a whole (which writes no message record) still
leaves a trace its tenant can find by number and day. The sizes are bounded here: a call keeps
how many numbers it named and the first `NUMBERS_KEPT` of them; texts are cut to their
column's width. Secrets (the AccessKey secret, the signature, the Authorization header) are
never part of a call; a refused call's message is the text its caller was told, which names
what was wrong, never a secret.
"""

from __future__ import annotations

from datetime import datetime

from yizhan.domain.frozen import per_request
from yizhan.domain.ids import moment_of
from yizhan.domain.model import AccountId

NUMBERS_KEPT = 100
"""How many numbers of one call are kept (and found by number): a 1000-number SendSms keeps
its count and its first 100 numbers. Its accepted numbers each have a message record anyway;
this bound matters for calls refused as a whole."""
NUMBER_CHARS = 32
"""A number that is not one (`abc`, 40 digits) is kept as given, cut to this length."""
DETAIL_CHARS = 512
"""A refused call keeps the answer's message (what its caller was told) up to this length."""
TEXT_CHARS = {"action": 96, "key_id": 64, "request_id": 64, "code": 64, "sign_name": 64,
              "template_code": 64, "client": 64, "biz_id": 32, "detail": DETAIL_CHARS}
"""Column widths of the texts of a call (`storage/tables.py` `api_calls`); the writer
(`api/call_log.py`) cuts each text to its width."""


@per_request
class ApiCall:
    """A call: when (its id carries its time: `at`), what (an Alibaba action, or a REST
    method and route), whose (the account, when the AccessKey named is known), its answer
    (HTTP status, code and, when refused, the message its caller was told: `detail`), and
    what it named (numbers, signature, template). `biz_id` is set when a send was accepted:
    its message records carry every number."""

    id: int
    action: str
    account_id: AccountId | None
    key_id: str
    request_id: str
    http_status: int
    code: str
    numbers: tuple[str, ...]
    number_count: int
    sign_name: str
    template_code: str
    client: str
    biz_id: str | None = None
    detail: str = ""
    """A refused call's answer message, as its caller got it (in the caller's language, cut
    to `DETAIL_CHARS`): why it was refused. Empty for an accepted call."""

    @property
    def at(self) -> datetime:
        """When the call was answered (to the millisecond)."""
        return moment_of(self.id)
