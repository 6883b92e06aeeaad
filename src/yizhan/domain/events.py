"""The small event vocabulary that crosses stage boundaries, as versioned JSON.

Channels produce `Receipt` and `Uplink`; the dispatch worker turns channel answers into
message state. Every event serialises to a JSON object with `v` (schema version) and `type`,
never pickle, so stages of different versions can share a bus.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

import orjson

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """A carrier's delivery report for one submitted message (or one part of it)."""

    type: ClassVar[str] = "receipt"
    channel: str
    remote_id: str
    code: str
    """Carrier status or error code as received (DELIVRD, UNDELIV, MK:0001, ...), or as the
    channel's code table translated it."""
    done_at: datetime
    raw: str = ""
    status: str = ""
    """`success` or `failed` as the channel classified the receipt, with its own code table
    (the message's error code is then `DELIVERED` or `code`, and `code` is the key of its
    explanation); empty: not classified, the receipt stage applies the platform's rules."""
    phone: str = ""
    """The handset the receipt reports on (+country code), when the carrier names it."""
    submitted_at: datetime | None = None
    """When the carrier says the message was submitted (the receipt's `submit date`, to
    the minute), if it says."""


@dataclass(frozen=True, slots=True)
class Uplink:
    """A reply from a handset (MO message)."""

    type: ClassVar[str] = "uplink"
    channel: str
    phone: str
    dest_code: str
    content: str
    received_at: datetime
    extension: str = ""
    """The part of `dest_code` after the channel's prefix and code: it names the account
    and signature replied to (empty when the channel could not tell)."""


_TYPES: dict[str, type[Receipt] | type[Uplink]] = {"receipt": Receipt, "uplink": Uplink}


def to_json(event: Receipt | Uplink) -> bytes:
    body = asdict(event)
    for key, value in body.items():
        if isinstance(value, datetime):
            body[key] = value.isoformat()
    return orjson.dumps({"v": SCHEMA_VERSION, "type": event.type, **body})


def from_json(data: bytes | str) -> Receipt | Uplink:
    body: dict[str, Any] = orjson.loads(data)
    if body.pop("v", None) != SCHEMA_VERSION:
        raise ValueError("unsupported event schema version")
    cls = _TYPES[body.pop("type")]
    for key in ("done_at", "received_at", "submitted_at"):
        if body.get(key) is not None:
            body[key] = datetime.fromisoformat(body[key])
    return cls(**body)
