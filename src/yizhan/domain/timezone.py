"""China time: rules that speak of the clock use Asia/Shanghai; storage uses UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def china_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a calendar day in China."""
    start = datetime.combine(day, time.min, tzinfo=CHINA)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def china_today(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def china_text(moment: datetime | None) -> str:
    """`yyyy-MM-dd HH:mm:ss` in China time (the format Alibaba's records use)."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
