"""Which carrier a destination belongs to, for statistics per carrier (DOMAIN.md, "Delivery,
receipts, records": statistics per carrier).

Mainland mobiles by their 3-digit segment (the MIIT allocation as published by the three
carriers; numbers ported to another carrier keep their segment, so this is the carrier the
number was issued by). Everything outside the mainland counts as `international`; a mainland
segment not listed (virtual operators are refused before sending) as `other`.
"""

from __future__ import annotations

from enum import StrEnum


class Carrier(StrEnum):
    MOBILE = "mobile"
    UNICOM = "unicom"
    TELECOM = "telecom"
    BROADCAST = "broadnet"
    OTHER = "other"
    INTERNATIONAL = "international"


_SEGMENTS: dict[Carrier, tuple[int, ...]] = {
    Carrier.MOBILE: (134, 135, 136, 137, 138, 139, 147, 148, 150, 151, 152, 157, 158, 159,
                     172, 178, 182, 183, 184, 187, 188, 195, 197, 198),
    Carrier.UNICOM: (130, 131, 132, 145, 146, 155, 156, 166, 175, 176, 185, 186, 196),
    Carrier.TELECOM: (133, 149, 153, 173, 174, 177, 180, 181, 189, 190, 191, 193, 199),
    Carrier.BROADCAST: (192,),
}
_BY_SEGMENT = {str(s): c for c, segments in _SEGMENTS.items() for s in segments}


def carrier_of(phone: str) -> Carrier:
    """The carrier of an E.164 number (`+8613800138000`)."""
    if not phone.startswith("+86"):
        return Carrier.INTERNATIONAL
    return _BY_SEGMENT.get(phone[3:6], Carrier.OTHER)
