"""The router: which channel carries a message.

For now every message goes to the default channel (the simulator in embedded mode); the
carriers issue adds routes by carrier, country and message type with ordered failover.
"""

from __future__ import annotations

from collections.abc import Sequence

from yizhan.domain.model import Message
from yizhan.domain.ports import Channel


class Router:
    def __init__(self, channels: Sequence[Channel], default: str) -> None:
        self._channels = {c.name: c for c in channels}
        if default not in self._channels:
            raise ValueError(f"default channel {default!r} is not configured")
        self._default = self._channels[default]

    def pick(self, message: Message) -> Channel:
        return self._default

    def all(self) -> list[Channel]:
        return list(self._channels.values())
