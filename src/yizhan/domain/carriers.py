"""Which carrier serves a destination: China Mobile, China Unicom, China Telecom by the
mainland number segment, or international.

Reads the maintained segment table `data/cn_segments.toml` (source and review date in the
file) once, on first use. Policy refuses mainland numbers whose segment has no carrier
(virtual operators, China Broadnet, satellite, unassigned: docs/domain.md "Sending"); the router
will pick channels by `carrier_of`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources

from yizhan.domain.model import PhoneNumber

MAINLAND_CODE = "+86"


def item_form(number: str) -> str:
    """A number as push items and exports show it (Alibaba's `phone_number`): a mainland
    number as its 11 digits, any other in E.164."""
    return number[len(MAINLAND_CODE):] if number.startswith(MAINLAND_CODE) else number


class Carrier(StrEnum):
    CHINA_MOBILE = "china_mobile"
    CHINA_UNICOM = "china_unicom"
    CHINA_TELECOM = "china_telecom"
    INTERNATIONAL = "international"


@dataclass(frozen=True, slots=True)
class Segment:
    """What the table says about a mainland number: its carrier, or why it is refused."""

    prefix: str
    carrier: Carrier | None
    refused: str = ""
    """Why a segment without carrier is refused ("virtual operator", "unknown segment", ...)."""


@dataclass(frozen=True, slots=True)
class SegmentTable:
    reviewed: date
    segments: dict[str, Segment]

    def lists(self, national: str) -> bool:
        """Whether the table knows the segment of `national` (served or refused)."""
        return national[:4] in self.segments or national[:3] in self.segments

    def lookup(self, national: str) -> Segment:
        """The segment of an 11-digit national mobile number (longest prefix wins)."""
        return (self.segments.get(national[:4]) or self.segments.get(national[:3])
                or Segment(national[:3], None, "unknown segment"))


@cache
def segment_table() -> SegmentTable:
    text = resources.files("yizhan.domain").joinpath("data/cn_segments.toml").read_text("utf-8")
    return parse_table(text)


def parse_table(text: str) -> SegmentTable:
    data = tomllib.loads(text)
    segments: dict[str, Segment] = {}

    def add(prefix: str, segment: Segment) -> None:
        if prefix in segments or not (prefix.isdigit() and len(prefix) in (3, 4)):
            raise ValueError(f"segment table: prefix {prefix!r} is listed twice or malformed")
        segments[prefix] = segment

    for name, prefixes in data["carriers"].items():
        for prefix in prefixes:
            add(prefix, Segment(prefix, Carrier(name)))
    for why, prefixes in data["refused"].items():
        for prefix in prefixes:
            add(prefix, Segment(prefix, None, why))
    return SegmentTable(data["reviewed"], segments)


def mainland_segment(number: PhoneNumber) -> Segment | None:
    """The segment of a mainland number; None for an international one."""
    if not number.startswith(MAINLAND_CODE):
        return None
    return segment_table().lookup(number[len(MAINLAND_CODE):])


def carrier_of(number: PhoneNumber) -> Carrier | None:
    """The carrier of a normalised number: INTERNATIONAL outside the mainland, None for a
    mainland segment that no supported carrier serves."""
    segment = mainland_segment(number)
    return Carrier.INTERNATIONAL if segment is None else segment.carrier


def carrier_label(number: str) -> str:
    """The carrier as statistics group by it: the carrier's name, or `other` for a mainland
    segment none of them serves (such numbers are refused before sending)."""
    carrier = carrier_of(PhoneNumber(number))
    return "other" if carrier is None else carrier.value
