"""The operator's channels and routes with their live health (docs/console.md "Channels and
routes").

    GET /console/operator/channels

Per channel: bound or not, binds since start, the submit window in use, the last minute's
submits, refusals and error rate, the circuit breaker; then the routes (which carriers,
countries and types go to which channels, in failover order). The figures are those the
router of this process keeps (`dispatch/router.py` `health`): live in a process that
dispatches (role `all`, the embedded start, or `dispatch`); a process of role `api` runs no
channel, and the page says so (the dispatch process's `GET /metrics` has its state). The
page asks the browser to load it again every `REFRESH_SECONDS` (the `Refresh` header: no
JavaScript), and has a link that does it at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.pages import PREFIX, OperatorDep, console_of, render
from yizhan.console.services import ChannelBoard
from yizhan.dispatch.router import ChannelHealth
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)
REFRESH_SECONDS = 15

i18n.add({
    "ops_channels": ("Channels", "通道"),
    "ops_channels_title": ("Channels and routes", "通道与路由"),
    "ops_as_of": ("As of {at} (China time); this page reloads itself every {seconds} s.",
                  "截至 {at}（北京时间）；本页每 {seconds} 秒自动刷新。"),
    "ops_refresh": ("Refresh now", "立即刷新"),
    "ops_not_dispatching": (
        "This process does not dispatch (role api): its channels are not started. The live "
        "state is the dispatch process's (its GET /metrics).",
        "本进程不负责下发（角色 api），其通道未启动。实时状态见下发进程（其 GET /metrics）。"),
    "ops_no_channels": ("This process runs no channel.", "本进程没有通道。"),
    "ops_kind": ("Kind", "类型"),
    "ops_address": ("Address", "地址"),
    "ops_bound": ("Bound", "已连接"),
    "ops_yes": ("yes", "是"),
    "ops_no": ("no", "否"),
    "ops_binds": ("Binds", "绑定次数"),
    "ops_window": ("Window in use", "窗口占用"),
    "ops_minute": ("Submits (last minute)", "提交（近一分钟）"),
    "ops_refused": ("Refused by carrier", "运营商拒绝"),
    "ops_error_rate": ("Error rate", "错误率"),
    "ops_breaker": ("Circuit breaker", "熔断器"),
    "ops_breaker_closed": ("closed (in use)", "闭合（使用中）"),
    "ops_breaker_open": ("open (skipped)", "断开（跳过）"),
    "ops_breaker_half-open": ("half-open (probing)", "半开（试探中）"),
    "ops_failures": ("{n} failures in a row", "连续失败 {n} 次"),
    "ops_opened": ("opened {n} times", "已断开 {n} 次"),
    "ops_last_error": ("Last error", "最近错误"),
    "ops_health_note": (
        "Error rate: the share of the last minute's submits the channel did not take (not "
        "bound, no answer, throttled); a carrier's refusal of a message is an answer and "
        "counts apart. Figures of this process since it started.",
        "错误率：近一分钟提交中通道未接收的比例（未连接、无应答、被限流）；运营商拒绝某条短信"
        "属于正常应答，单独计数。数据为本进程启动以来的统计。"),
    "ops_routes": ("Routes", "路由"),
    "ops_routes_note": (
        "The first route that matches a message applies. a > b: b only while a cannot take "
        "it (failover); a*3: a carries three times the share (balancing).",
        "按顺序匹配第一条路由。a > b：仅当 a 不可用时走 b（故障切换）；"
        "a*3：a 分担三倍流量（负载均衡）。"),
    "ops_route": ("Route", "路由"),
    "ops_carriers": ("Carriers", "运营商"),
    "ops_countries": ("Countries", "国家/地区"),
    "ops_types": ("Types", "类型"),
    "ops_any": ("any", "任意"),
    "ops_source": ("Channels from: {source}", "通道配置来源：{source}"),
})


@router.get("/operator/channels")
async def channels(request: Request, who: OperatorDep) -> Response:
    console = console_of(request)
    board = console.channels
    page = render(request, "op_channels.html", who.lang, who,
                  at=china_text(console.api.clock.now()), seconds=REFRESH_SECONDS,
                  board=board, rows=_rows(board) if board else [],
                  routes=_routes(board) if board else [],
                  source=board.plan.source if board and board.plan else "")
    page.headers["Refresh"] = str(REFRESH_SECONDS)
    return page


def _rows(board: ChannelBoard) -> list[dict[str, Any]]:
    specs = {s.name: s for s in board.plan.channels} if board.plan else {}
    return [_row(h, specs.get(h.name)) for h in board.router.health()]


def _row(health: ChannelHealth, spec: Any) -> dict[str, Any]:
    minute = health.minute
    rate = minute.error_rate
    return {
        "name": health.name, "ready": health.ready,
        "kind": spec.kind if spec else "simulator",
        "address": spec.address if spec else "in process",
        "carrier": spec.carrier.value if spec and spec.carrier else "",
        "binds": "-" if health.binds is None else health.binds,
        "window": ("-" if health.window is None else
                   f"{health.window.used} / {health.window.limit}"
                   + (f" ({health.window.size})" if health.window.limit != health.window.size
                      else "")),
        "submits": minute.submits, "rejected": minute.rejected,
        "error_rate": "-" if rate is None else f"{rate * 100:.1f} %",
        "breaker": health.breaker.value, "failures": health.failures,
        "opened": health.opened, "last_error": health.last_error,
    }


def _routes(board: ChannelBoard) -> list[dict[str, Any]]:
    return [{"name": r.name, "carriers": sorted(r.carriers), "countries": sorted(r.countries),
             "types": sorted(r.types), "chain": r.chain} for r in board.router.routes]
