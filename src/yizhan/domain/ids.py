"""Message ids and BizIds, made by the process that accepts the request.

An id is a 63-bit integer: milliseconds since 2024-01-01 UTC (41 bits, good until 2093),
a 12-bit generator number drawn at random per process, and a 10-bit sequence within the
millisecond. Ids are made before the insert so that a whole group of requests commits in
one statement; the primary key catches the (very unlikely) clash of two processes that drew
the same generator number. A BizId is the first message id of a request, as `<id>^0`
(Alibaba's shape, docs/aliyun.md "Actions").
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

from yizhan.domain.model import BizId, MessageId

_EPOCH_MS = 1_704_067_200_000
MAX_MESSAGE_ID = (1 << 63) - 1
"""The largest message id (ids are 63-bit, a signed 64-bit column in the store)."""
BIZ_ID_PATTERN = r"^[0-9]{1,19}\^0$"
"""The shape of a BizId: a message id, `^0`. Refusing other text keeps NUL bytes and the
like away from the store and from the names of exported files."""
_BIZ_ID = re.compile(BIZ_ID_PATTERN)


def is_biz_id(text: str) -> bool:
    return _BIZ_ID.match(text) is not None
_SEQ_BITS = 10
_GEN_BITS = 12


class IdGenerator:
    def __init__(self, generator: int | None = None) -> None:
        self._generator = secrets.randbelow(1 << _GEN_BITS) if generator is None else generator
        self._last_ms = 0
        self._seq = 0

    def next_id(self, unix_ms: int | None = None) -> MessageId:
        # The real time, not the injected clock: ids must grow across restarts and processes.
        # `unix_ms`: an id of that instant instead (the call log's ids carry the call's time,
        # read from the injected clock; `moment_of` reads it back).
        now = int(time.time() * 1000) if unix_ms is None else unix_ms
        ms = max(now - _EPOCH_MS, self._last_ms, 0)
        if ms == self._last_ms:
            self._seq += 1
            if self._seq >= 1 << _SEQ_BITS:  # sequence spent: borrow the next millisecond
                ms += 1
                self._seq = 0
        else:
            self._seq = 0
        self._last_ms = ms
        return MessageId((ms << (_GEN_BITS + _SEQ_BITS)) | (self._generator << _SEQ_BITS)
                         | self._seq)

    def next_ids(self, count: int) -> list[MessageId]:
        """`count` ids in a row, as `count` calls of `next_id` would make them, at the cost
        of one (a bulk request takes 1000): the rest of this millisecond's sequence first, then
        the following milliseconds'."""
        if count == 1:  # a one-number send, the most common request
            return [self.next_id()]
        made: list[MessageId] = []
        while len(made) < count:
            first = self.next_id()
            ms, seq = self._last_ms, self._seq
            take = min(count - len(made), (1 << _SEQ_BITS) - seq)
            made.extend(MessageId(first + n) for n in range(take))
            self._seq = seq + take - 1
            self._last_ms = ms
        return made

    def biz_id(self, first: MessageId) -> BizId:
        return BizId(f"{first}^0")


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def new_access_key_id() -> str:
    """`LTAI` + 20 characters, the shape Alibaba AccessKey ids have."""
    return "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def new_access_key_secret() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


def new_template_code() -> str:
    return f"SMS_{secrets.randbelow(900_000_000) + 100_000_000}"


def unix_ms(moment: datetime) -> int:
    """Milliseconds since 1970 of an aware time (`IdGenerator.next_id`)."""
    return int(moment.timestamp() * 1000)


def moment_of(made: int) -> datetime:
    """The instant (to the millisecond) an id was made at."""
    return datetime.fromtimestamp(((made >> (_GEN_BITS + _SEQ_BITS)) + _EPOCH_MS) / 1000, UTC)


def first_id_at(moment: datetime) -> int:
    """The smallest message id made at or after `moment` (ids grow with time): a range of
    ids is a range of acceptance times, served by the primary key."""
    ms = min(max(int(moment.timestamp() * 1000) - _EPOCH_MS, 0), (1 << 41) - 1)
    return ms << (_GEN_BITS + _SEQ_BITS)
