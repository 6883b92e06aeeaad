"""Fixed-width fields of the binary SMS protocols that write them the same way (CMPP, SGIP,
SMGP): big-endian integers and NUL-padded octet strings, read strictly and written to width,
and the steps every one of their decoders takes after reading its header. Each codec
(`cmpp_pdu`, `sgip_pdu`, `smgp_pdu`) reads and writes its fields with these.

Octet strings are str (latin-1, so any octet survives a round trip), padded with NULs on the
right and read up to the first NUL. `Reader` raises the protocol's own error (its codec's
`PduError`) naming the field that runs past the PDU, the flag over its bound, or the octets
left after the last field; `Codec.read` adds which PDU it was and the sequence to answer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

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
    """Reads a PDU's fields in order from `pos`; every method names the field it reads."""

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

    def bounded(self, name: str, top: int) -> int:
        """One octet that the spec bounds (a flag, a state): refused when over `top`."""
        value = self.take(1, name)[0]
        if value > top:
            raise self.error(f"{name} {value} is over {top}")
        return value

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


class Titled(Protocol):
    @property
    def title(self) -> str:
        """The PDU's name as the spec writes it (`CMPP_SUBMIT`, `SGIP Submit_Resp`)."""
        ...


C = TypeVar("C", bound=Titled)
B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class Codec(Generic[C]):
    """What one protocol calls its header's fields, its commands and its error: the part of
    decoding after the header that CMPP, SGIP and SMGP share."""

    header_size: int
    length_field: str
    """The header's length field as refusals name it (`Total_Length`, `Message Length`)."""
    id_field: str
    """The header's command field (`Command_Id`, `RequestID`)."""
    commands: Mapping[int, C]
    error: type[Exception]
    """The codec's `PduError`, made with a message and the sequence to answer."""

    def read(self, data: bytes, length: int, command_id: int, sequence: object,
             read_body: Callable[..., B], *args: object) -> tuple[C, B]:
        """The command and body of a whole PDU whose header said `length`, `command_id` and
        `sequence`: `read_body(command, reader, *args)` reads the body, which must end at
        the PDU's last octet. Anything else is refused with the codec's error naming the
        PDU and carrying `sequence`, never half-decoded."""
        error = self.error
        if length != len(data):
            raise error(f"{self.length_field} {length} does not match the {len(data)} octets "
                        "of the PDU", sequence)
        command = self.commands.get(command_id)
        if command is None:
            raise error(f"unknown {self.id_field} 0x{command_id:08X}", sequence)
        try:
            r = Reader(data, self.header_size, error)
            body = read_body(command, r, *args)
            r.end()
        except error as exc:
            raise error(f"malformed {command.title}: {exc}", sequence) from None
        return command, body
