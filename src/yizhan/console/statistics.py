"""Statistics (docs/console.md "Statistics"): an account's sends, deliveries, failures and
success rate over China days, grouped by day, signature, template, type or carrier, as a
chart (`charts.py`) and a table, and the same rows as CSV.

    GET /console/statistics        the page (filters: start, end, group)
    GET /console/statistics.csv    its rows as a CSV download

Reads the daily counters GET /v1/statistics reads (`ApiStore.statistics`), of the viewer's
own account only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.charts import Group, bars
from yizhan.console.pages import PREFIX, TenantDep, ViewerDep, console_of, render
from yizhan.domain.model import AccountId
from yizhan.domain.statistics import DIMENSIONS, StatsLine
from yizhan.domain.timezone import china_today

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_DAYS = 92
COLUMNS = ("sent", "success", "failed", "unknown", "waiting", "billed_parts")


def period(start: str, end: str, today: date) -> tuple[date, date] | None:
    """The China days asked for (the last 7 by default), None when not valid."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
    except ValueError:
        return None
    if last < first or (last - first).days >= MAX_DAYS:
        return None
    return first, last


async def _rows(request: Request, account_id: AccountId, days: tuple[date, date],
                group: str) -> Sequence[StatsLine]:
    return await console_of(request).api.store.statistics(account_id, *days,
                                                          group_by=(group,))


def _label(line: StatsLine, group: str, words: dict[str, str]) -> str:
    value = line.key.get(group, "")
    if group == "day" and len(value) == 8:
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if group == "carrier":
        return words.get(f"carrier_{value}", value)
    return value or "-"


@router.get("/statistics")
async def statistics(request: Request, who: ViewerDep, account_id: TenantDep,
                     start: str = "", end: str = "", group: str = "day") -> Response:
    today = china_today(console_of(request).api.clock.now())
    days = period(start, end, today)
    group = group if group in DIMENSIONS else "day"
    words = dict(i18n.words(who.lang))
    lines = await _rows(request, account_id, days, group) if days else []
    groups = [Group(_label(r, group, words), r.sent, r.success) for r in lines]
    shown = days or (today - timedelta(days=6), today)
    return render(
        request, "statistics.html", who.lang, who, start=shown[0].isoformat(),
        end=shown[1].isoformat(), group=group, dimensions=DIMENSIONS,
        error="" if days else words["bad_filter"].format(
            detail=f"at most {MAX_DAYS} days, the end after the start"),
        rows=[{"label": g.label, **{c: getattr(r, c) for c in COLUMNS},
               "rate": f"{r.success_rate * 100:.1f} %" if r.sent else "-"}
              for g, r in zip(groups, lines, strict=True)],
        chart=bars(groups, words["sent"], words["success"], words["statistics"])
        if groups else None,
        csv_query=f"start={shown[0].isoformat()}&end={shown[1].isoformat()}&group={group}")


@router.get("/statistics.csv")
async def statistics_csv(request: Request, who: ViewerDep, account_id: TenantDep,
                         start: str = "", end: str = "", group: str = "day") -> Response:
    today = china_today(console_of(request).api.clock.now())
    days = period(start, end, today) or (today - timedelta(days=6), today)
    group = group if group in DIMENSIONS else "day"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([group, *COLUMNS, "success_rate"])
    for line in await _rows(request, account_id, days, group):
        writer.writerow([line.key.get(group, ""), *(getattr(line, c) for c in COLUMNS),
                         f"{line.success_rate:.4f}"])
    name = f"statistics-{days[0].isoformat()}_{days[1].isoformat()}-{group}.csv"
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
