"""What the pipeline gave up, for the operator (docs/console.md "Dead letters and unmatched
receipts"): dead letters, with replay, and receipts that matched no message.

    GET  /console/operator/deadletters            waiting ones (?all=1: replayed too)
    GET  /console/operator/deadletters/{id}       one in full
    POST /console/operator/deadletters/{id}/replay
    POST /console/operator/deadletters/replay     the ones ticked (at most `MAX_SELECTED`)
    GET  /console/operator/unmatched              unmatched receipts (?channel=, ?limit=)

A replay puts the item back on its stage's outbox (the store's `replay_dead_letter`, as
`yizhan deadletters replay`), where the running dispatch or push stage takes it; each replay
is written to the console's audit. An unmatched receipt is shown as the carrier sent it; the
CLI offers no action on them either (`yizhan receipts unmatched`): what they show is what to
fix in the channel (its message id format, its numbers).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.pages import PREFIX, OperatorDep, Viewer, console_of, form_of, render
from yizhan.domain.model import DeadLetter
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LIST_LIMIT = 500
"""Most dead letters a page lists (the oldest waiting first)."""
MAX_SELECTED = 200
"""Most dead letters one replay form puts back."""
UNMATCHED_LIMITS = (50, 200, 500)

i18n.add({
    "ops_letters": ("Dead letters", "死信"),
    "ops_letters_note": (
        "Items a stage gave up on (a message's dispatch or a push) after their attempts. "
        "Replay puts one back on its stage; the running server takes it.",
        "各环节多次尝试后放弃的条目（短信下发或推送）。重放会将其放回原环节，由运行中的服务处理。"),
    "ops_letters_none": ("No dead letter waits.", "没有待处理的死信。"),
    "ops_letters_all": ("Show replayed ones too", "同时显示已重放的"),
    "ops_letters_waiting": ("Waiting only", "仅显示待处理的"),
    "ops_stage": ("Stage", "环节"),
    "ops_when": ("When (China time)", "时间（北京时间）"),
    "ops_error": ("Error", "错误"),
    "ops_replayed": ("Replayed", "已重放"),
    "ops_replay": ("Replay", "重放"),
    "ops_replay_selected": ("Replay the ticked ones", "重放所选"),
    "ops_select": ("Select", "选择"),
    "ops_replayed_n": ("{n} put back on their stage; {m} were not waiting.",
                       "{n} 条已放回原环节；{m} 条不在待处理状态。"),
    "ops_select_none": ("Tick at least one dead letter.", "请至少选择一条死信。"),
    "ops_select_many": ("At most {n} at a time.", "一次最多 {n} 条。"),
    "ops_letter": ("Dead letter {id}", "死信 {id}"),
    "ops_payload": ("Payload", "内容"),
    "ops_back_letters": ("Back to the dead letters", "返回死信列表"),
    "ops_listed_first": ("The oldest {n} are listed.", "仅列出最早的 {n} 条。"),
    "ops_unmatched": ("Unmatched receipts", "未匹配回执"),
    "ops_unmatched_note": (
        "Receipts that matched no message (by id, by id in the other base, or by handset and "
        "submit date), as the carrier sent them, newest first. They change nothing; what "
        "they show is what to fix in the channel (its message ids, its numbers).",
        "未能匹配到任何短信的回执（按编号、另一进制的编号、或号码与提交时间），按运营商原样显示，"
        "最新的在前。它们不改变任何记录；可据此检查通道配置（消息编号格式、号码）。"),
    "ops_unmatched_none": ("No unmatched receipt.", "没有未匹配的回执。"),
    "ops_received": ("Received (China time)", "收到时间（北京时间）"),
    "ops_remote_id": ("Remote id", "运营商编号"),
    "ops_code": ("Code", "状态码"),
    "ops_handset": ("Handset", "号码"),
    "ops_raw": ("As received", "原文"),
    "ops_all_channels": ("all channels", "全部通道"),
    "ops_show": ("Show", "显示"),
    "ops_limit": ("Most shown", "最多显示"),
})


def _item(letter: DeadLetter) -> dict[str, Any]:
    return {"id": letter.id, "stage": letter.stage, "error": letter.error,
            "created_at": china_text(letter.created_at),
            "replayed_at": china_text(letter.replayed_at) if letter.replayed_at else ""}


async def _list(request: Request, who: Viewer, include_replayed: bool, *, notice: str = "",
                error: str = "", status: int = 200) -> Response:
    found = await console_of(request).store.list_dead_letters(include_replayed, LIST_LIMIT + 1)
    return render(request, "op_letters.html", who.lang, who, status=status,
                  letters=[_item(d) for d in found[:LIST_LIMIT]],
                  more=len(found) > LIST_LIMIT, limit=LIST_LIMIT, all=include_replayed,
                  notice=notice, error=error)


@router.get("/operator/deadletters")
async def dead_letters(request: Request, who: OperatorDep, all: str = "") -> Response:
    return await _list(request, who, all == "1")


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 18 else None


@router.get("/operator/deadletters/{letter_id}")
async def dead_letter(request: Request, who: OperatorDep, letter_id: str) -> Response:
    number = _number(letter_id)
    letter = await console_of(request).store.dead_letter(number) if number else None
    if letter is None:
        return render(request, "op_letter.html", who.lang, who, status=404, letter=None)
    return render(request, "op_letter.html", who.lang, who, letter=_item(letter),
                  payload=json.dumps(letter.payload, ensure_ascii=False, indent=2))


async def _replay(request: Request, who: Viewer, ids: list[int]) -> int:
    """Put these back on their stages, each audited; how many were waiting."""
    console = console_of(request)
    done = 0
    for letter_id in ids:
        now = console.api.clock.now()
        if await console.store.replay_dead_letter(letter_id, now) is not None:
            await console.store.audit_console(who.session.user, None, "dead letter replayed",
                                              f"dead letter {letter_id}", now)
            done += 1
    return done


@router.post("/operator/deadletters/replay")
async def replay_selected(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    t = i18n.words(who.lang)
    chosen = form.getlist("id")
    if not chosen:
        return await _list(request, who, False, error=t["ops_select_none"], status=400)
    if len(chosen) > MAX_SELECTED:
        return await _list(request, who, False, status=413,
                           error=t["ops_select_many"].format(n=MAX_SELECTED))
    ids = sorted({n for i in chosen if isinstance(i, str) and (n := _number(i))})
    done = await _replay(request, who, ids)
    return await _list(request, who, False,
                       notice=t["ops_replayed_n"].format(n=done, m=len(chosen) - done))


@router.post("/operator/deadletters/{letter_id}/replay")
async def replay_one(request: Request, who: OperatorDep, letter_id: str) -> Response:
    await form_of(request, who)
    t = i18n.words(who.lang)
    number = _number(letter_id)
    done = await _replay(request, who, [number] if number else [])
    return await _list(request, who, False,
                       notice=t["ops_replayed_n"].format(n=done, m=1 - done))


@router.get("/operator/unmatched")
async def unmatched(request: Request, who: OperatorDep, channel: str = "",
                    limit: str = "") -> Response:
    shown = next((n for n in UNMATCHED_LIMITS if str(n) == limit), UNMATCHED_LIMITS[0])
    channel = channel.strip()[:64]
    console = console_of(request)
    found = await console.store.unmatched_receipts(channel or None, shown)
    board = console.channels
    names = [h.name for h in board.router.health()] if board else []
    return render(request, "op_unmatched.html", who.lang, who, channel=channel, limit=shown,
                  limits=UNMATCHED_LIMITS, channels=names, receipts=[{
                      "received_at": china_text(r.received_at), "channel": r.channel,
                      "remote_id": r.remote_id, "code": r.code, "phone": r.phone or "-",
                      "submitted_at": china_text(r.submitted_at) if r.submitted_at else "",
                      "raw": r.raw} for r in found])
