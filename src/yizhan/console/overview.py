"""The tenant's overview (docs/console.md "Overview"): today's sends and success rate, the
balance and the prepaid packages, and the last seven days' sends and deliveries by day and
by carrier as charts (`charts.py`) with their tables.

Reads the statistics the API's GET /v1/statistics reads (`ApiStore.statistics`, the daily
counters), the account and its packages: only the viewer's own account.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.charts import Group, bars
from yizhan.console.pages import PREFIX, TenantDep, ViewerDep, console_of, render
from yizhan.domain.statistics import StatsLine
from yizhan.domain.timezone import china_today
from yizhan.policy.balance import money

router = APIRouter(prefix=PREFIX, include_in_schema=False)
DAYS = 7


@router.get("/overview")
async def overview(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    console = console_of(request)
    store = console.api.store
    today = china_today(console.api.clock.now())
    first = today - timedelta(days=DAYS - 1)
    by_day = {r.key["day"]: r for r in await store.statistics(account_id, first, today)}
    by_carrier = await store.statistics(account_id, first, today, group_by=("carrier",))
    account = await store.account(account_id)
    packages = await console.store.packages(account_id)
    now = console.api.clock.now()
    days = [first + timedelta(days=n) for n in range(DAYS)]
    day_groups = [_group(d.strftime("%m-%d"), by_day.get(d.strftime("%Y%m%d")))
                  for d in days]
    t = i18n.words(who.lang)
    carrier_groups = [_group(t.get(f"carrier_{r.key.get('carrier')}", r.key.get("carrier")
                                   or "-"), r) for r in by_carrier]
    latest = by_day.get(today.strftime("%Y%m%d"))
    return render(
        request, "overview.html", who.lang, who,
        account=account, balance=money(account.balance if account else 0),
        packages=[p for p in packages if p.expires_at > now and p.parts_left > 0],
        today_sent=latest.sent if latest else 0,
        today_success=latest.success if latest else 0,
        today_rate=_rate(latest), day_groups=day_groups, carrier_groups=carrier_groups,
        day_chart=bars(day_groups, t["sent"], t["success"], t["by_day"]),
        carrier_chart=bars(carrier_groups, t["sent"], t["success"], t["by_carrier"])
        if carrier_groups else None)


def _group(label: str, line: StatsLine | None) -> Group:
    return Group(label, line.sent if line else 0, line.success if line else 0)


def _rate(line: StatsLine | None) -> str:
    if line is None or not line.sent:
        return "-"
    return f"{line.success_rate * 100:.1f} %"
