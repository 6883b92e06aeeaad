"""Fixed-width fields of the binary SMS protocols that write them the same way: big-endian
integers and NUL-padded octet strings, read strictly and written to width. SMGP's codec reads
and writes with these; CMPP's codec (`cmpp_pdu`) still has its own copy of the same reader,
to be switched over once its channel has landed.

Octet strings are str (latin-1, so any octet survives a round trip), padded with NULs on the
right and read up to the first NUL. `Reader` raises the protocol's own error (its codec's
`PduError`) naming the field that runs past the PDU or the octets left after the last one;
the codec adds which PDU it was.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def padded(value: str, width: int, name: str) -> bytes:
    """`value` NUL-padded to `width` octets; ValueError naming the field when it is longer."""
    raw = value.encode("latin-1")
    if len(raw) > width:
        raise ValueError(f"{name} {value!r} is longer than its {width} octets")
    return raw.ljust(width, b"\0")


class Reader:
    __slots__ = ("data", "error", "pos")

    def __init__(self, data: bytes, pos: int, error: Callable[[str], Exception]) -> None:
        self.data = data
        self.pos = pos
        self.error = error

    def take(self, n: int, name: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise self.error(f"{name} runs past the end of the PDU")
        value = self.data[self.pos:end]
        self.pos = end
        return value

    def byte(self, name: str) -> int:
        return self.take(1, name)[0]

    def text(self, n: int, name: str) -> str:
        return self.take(n, name).split(b"\0", 1)[0].decode("latin-1")

    def u16(self, name: str) -> int:
        return int(_U16.unpack(self.take(2, name))[0])

    def u32(self, name: str) -> int:
        return int(_U32.unpack(self.take(4, name))[0])

    def u64(self, name: str) -> int:
        return int(_U64.unpack(self.take(8, name))[0])

    def left(self) -> int:
        return len(self.data) - self.pos

    def end(self) -> None:
        extra = self.left()
        if extra:
            raise self.error(f"{extra} octets after the last field")
