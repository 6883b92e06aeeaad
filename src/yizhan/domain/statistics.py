"""Statistics as the API, the CLI and the store speak of them (docs/records.md): the
dimensions counters can be grouped by, and one row of the answer.

The counters themselves are kept by the store in the transactions that change message
status (`storage/reports.py`) and summed per requested dimension (`storage/stats.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

DIMENSIONS = ("day", "sign_name", "template_code", "template_type", "carrier")


@dataclass(frozen=True, slots=True)
class StatsRow:
    key: dict[str, str]
    """The values of the grouped dimensions (`day` as YYYYMMDD, China calendar)."""
    sent: int
    success: int
    failed: int
    unknown: int
    waiting: int
    billed_parts: int

    @property
    def success_rate(self) -> float:
        """Delivered / sent (records still waiting count as not yet delivered)."""
        return self.success / self.sent if self.sent else 0.0


class StatsLine(Protocol):
    """One row of summed counters as their readers take it (`StatsRow` is one): the API's
statistics, a population's diagnosis."""

    @property
    def key(self) -> dict[str, str]: ...
    @property
    def sent(self) -> int: ...
    @property
    def success(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def unknown(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def billed_parts(self) -> int: ...
    @property
    def success_rate(self) -> float: ...
