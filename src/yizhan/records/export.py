"""Failed numbers as CSV, ready to send again (docs/domain.md: "A message that failed is never
resent automatically; users can export failed numbers and send again").

The first column is the number as the tenant writes it (mainland numbers as 11 digits), so
the file can be fed back as a list of numbers; the other columns say why it failed, and the
last, `resend`, whether sending again can succeed (`records/resend.py`): `retryable` keeps
only the numbers where it can.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from yizhan.domain.carriers import item_form
from yizhan.domain.model import Message
from yizhan.domain.timezone import china_text
from yizhan.records.resend import Resend, verdict

COLUMNS = ["phone_number", "status", "error_code", "sign_name", "template_code", "biz_id",
           "out_id", "send_time", "resend"]


def failed_csv(found: Iterable[Message]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for m in found:
        writer.writerow([item_form(m.phone), m.status.value, m.error_code or "UNKNOWN", m.sign_name,
                         m.template_code, m.biz_id, m.out_id, china_text(m.created_at),
                         verdict(m.error_code).value])
    return out.getvalue()


def retryable(found: Iterable[Message]) -> list[Message]:
    """Only the messages whose number may be delivered if sent again as it was."""
    return [m for m in found if verdict(m.error_code) is Resend.YES]
