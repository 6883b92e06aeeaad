"""Cutting a TCP byte stream into whole PDUs, for the protocols whose PDUs start with their
length in 4 big-endian octets (SMPP's command_length, CMPP's Total_Length), and the command
field these protocols (SMPP, CMPP, SGIP, SMGP) share: a response is its request's id with
the high bit set.

Consumes the octets of each read; gives the complete PDUs, in order, and keeps the
incomplete tail for the next read. A length below the header's or above the protocol's
bound is a broken peer, not a message: the error it raises tells the link to drop.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Self

_LENGTH = struct.Struct(">I")


class Framer:
    __slots__ = ("_error", "_field", "_maximum", "_minimum", "_rest")

    def __init__(self, minimum: int, maximum: int, error: Callable[[str], Exception],
                 field: str) -> None:
        self._minimum, self._maximum = minimum, maximum
        self._error, self._field = error, field
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The complete PDUs (raw bytes) the stream now holds, in order."""
        # A read usually holds many whole PDUs: each is sliced once from it (a read that
        # is exactly one PDU is not copied at all), and only an incomplete tail is kept.
        if self._rest:
            data = self._rest + data
        frames: list[bytes] = []
        pos, size = 0, len(data)
        unpack = _LENGTH.unpack_from
        minimum, maximum = self._minimum, self._maximum
        while size - pos >= 4:
            length = unpack(data, pos)[0]
            if length < minimum or length > maximum:
                raise self._error(f"impossible {self._field} {length}")
            if size - pos < length:
                break
            frames.append(data if length == size else data[pos:pos + length])
            pos += length
        self._rest = data[pos:] if pos < size else b""
        return frames


class CommandId(IntEnum):
    """The base of each protocol's `Command`: 0x80000000 marks a response."""

    @property
    def is_response(self) -> bool:
        return bool(self & 0x80000000)

    @property
    def response(self) -> Self:
        return type(self)(self | 0x80000000)
