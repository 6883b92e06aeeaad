"""The platform's lists, for the operator (docs/console.md "Keywords and blacklist"): the
platform-wide blocked keywords of the content filter and the platform blacklist of numbers.

    GET  /console/operator/lists                      both (?phone=: find a number)
    POST /console/operator/lists/keywords/add         pasted, one a line
    POST /console/operator/lists/keywords/remove      the ones ticked
    POST /console/operator/lists/blacklist/add        numbers pasted, one a line; signatures
    POST /console/operator/lists/blacklist/remove     the ones ticked, or pasted

The same store calls as `yizhan keywords add|remove|list` and `yizhan blacklist
add|remove|list`, with the same checks (a keyword is 1 to 64 characters, trimmed, letters in
lower case; a number is one the API would take). A paste is at most `MAX_LINES` lines and
`MAX_PASTE_CHARS` characters, and is refused whole when one line is not valid, naming the
lines. Every change is written to the console's audit. A running server's intake sees a
change within `cache_seconds`, as after the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.pages import PREFIX, OperatorDep, Viewer, console_of, form_of, render
from yizhan.domain.errors import Refusal
from yizhan.domain.model import BlacklistEntry, PhoneNumber
from yizhan.domain.timezone import china_text
from yizhan.policy import numbers
from yizhan.policy.content_filter import MAX_KEYWORD_LENGTH, normalise

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_LINES = 1000
MAX_PASTE_CHARS = 64 * 1024
KEYWORDS_SHOWN = 2000
BLACKLIST_SHOWN = 200
MAX_SIGNATURES = 20
NAMED_LINES = 10
"""How many bad lines a refusal names."""

i18n.add({
    "ops_lists": ("Keywords and blacklist", "关键词与黑名单"),
    "ops_keywords": ("Platform keywords", "平台关键词"),
    "ops_keywords_note": (
        "A message whose text contains one of these is refused (isv.BLACK_KEY_CONTROL_LIMIT), "
        "for every account. Letters match in any case.",
        "内容包含以下任一关键词的短信将被拒绝（isv.BLACK_KEY_CONTROL_LIMIT），对所有账号生效；"
        "字母不区分大小写。"),
    "ops_keywords_count": ("{n} keywords", "共 {n} 个关键词"),
    "ops_keywords_shown": ("The first {n} are shown.", "仅显示前 {n} 个。"),
    "ops_keywords_paste": ("Add keywords, one a line (at most {n} lines)",
                           "添加关键词，每行一个（最多 {n} 行）"),
    "ops_add": ("Add", "添加"),
    "ops_remove_ticked": ("Remove the ticked ones", "移除所选"),
    "ops_keywords_added": ("{n} keywords added; {m} were there already.",
                           "已添加 {n} 个关键词；{m} 个已存在。"),
    "ops_removed": ("{n} removed.", "已移除 {n} 个。"),
    "ops_paste_empty": ("Nothing to add: paste at least one line.",
                        "没有可添加的内容：请至少粘贴一行。"),
    "ops_paste_long": ("At most {n} lines and {c} characters at a time; nothing was changed.",
                       "一次最多 {n} 行、{c} 个字符；未做任何修改。"),
    "ops_keyword_bad": ("Line {lines}: a keyword is 1 to {n} characters; nothing was added.",
                        "第 {lines} 行：关键词长度须为 1 到 {n} 个字符；未添加任何内容。"),
    "ops_blacklist": ("Platform blacklist", "平台黑名单"),
    "ops_blacklist_note": (
        "Messages to these numbers are refused, for the signatures named (or all).",
        "发往这些号码的短信将被拒绝（限所列签名，未列则为全部签名）。"),
    "ops_blacklist_count": ("{n} numbers", "共 {n} 个号码"),
    "ops_blacklist_shown": ("The newest {n} are shown; find a number to see its entry.",
                            "仅显示最新的 {n} 个；可查找号码查看。"),
    "ops_find": ("Find", "查找"),
    "ops_blacklist_paste": ("Add numbers, one a line (at most {n} lines)",
                            "添加号码，每行一个（最多 {n} 行）"),
    "ops_signatures_field": ("For signatures (comma-separated; empty: all)",
                             "限签名（逗号分隔；留空为全部）"),
    "ops_source_field": ("Source", "来源"),
    "ops_all_signatures": ("all", "全部"),
    "ops_since": ("Since (China time)", "加入时间（北京时间）"),
    "ops_blacklist_added": ("{n} numbers blacklisted.", "已将 {n} 个号码加入黑名单。"),
    "ops_number_bad": ("Line {lines}: not a number the platform can send to; nothing was "
                       "added.", "第 {lines} 行：不是平台可发送的号码；未添加任何内容。"),
    "ops_signatures_bad": ("At most {n} signatures, each at most 64 characters.",
                           "最多 {n} 个签名，每个不超过 64 个字符。"),
    "ops_remove_paste": ("Or paste numbers to take off, one a line",
                         "或粘贴要移除的号码，每行一个"),
    "ops_remove": ("Remove", "移除"),
    "ops_blacklist_removed": ("{n} numbers taken off the blacklist; {m} were not on it.",
                              "已从黑名单移除 {n} 个号码；{m} 个原本不在名单中。"),
    "ops_select_none_list": ("Tick or paste at least one.", "请至少选择或粘贴一项。"),
})


def _lines(text: str) -> list[tuple[int, str]] | None:
    """The pasted lines that say something, with their numbers; None past the bounds."""
    if len(text) > MAX_PASTE_CHARS:
        return None
    found = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.strip().startswith("#")]
    return found if len(found) <= MAX_LINES else None


def _unusable(lines: list[tuple[int, str]] | None, t: Mapping[str, str]) -> dict[str, Any]:
    """The answer to a paste past the bounds (None) or without a line."""
    if lines is None:
        return {"status": 413, "error": t["ops_paste_long"].format(n=MAX_LINES,
                                                                   c=MAX_PASTE_CHARS)}
    return {"status": 400, "error": t["ops_paste_empty"]}


def _named(bad: list[int]) -> str:
    return ", ".join(str(n) for n in bad[:NAMED_LINES]) + (" …" if len(bad) > NAMED_LINES
                                                           else "")


def _summary(items: Sequence[str]) -> str:
    """An audit subject: how many, and the first ones (the column holds 128 characters)."""
    text = f"{len(items)}: {', '.join(items)}"
    return text if len(text) <= 128 else text[:126] + " …"


async def _page(request: Request, who: Viewer, *, phone: str = "", notice: str = "",
                error: str = "", status: int = 200) -> Response:
    store = console_of(request).store
    words = await store.keywords(None)
    wanted = numbers.normalize(phone) if phone else None
    total, entries = await store.blacklisted(
        wanted if isinstance(wanted, str) else None, BLACKLIST_SHOWN)
    if isinstance(wanted, Refusal):
        total, entries = 0, []
    return render(request, "op_lists.html", who.lang, who, status=status, notice=notice,
                  error=error, keywords=words[:KEYWORDS_SHOWN], keyword_total=len(words),
                  keywords_shown=KEYWORDS_SHOWN, max_lines=MAX_LINES, phone=phone[:32],
                  blacklist_total=total, blacklist_shown=BLACKLIST_SHOWN,
                  blacklist=[_entry(e) for e in entries])


def _entry(entry: BlacklistEntry) -> dict[str, Any]:
    return {"phone": entry.phone, "display": numbers.display(entry.phone),
            "signatures": ", ".join(entry.signatures), "source": entry.source,
            "since": china_text(entry.created_at)}


@router.get("/operator/lists")
async def lists(request: Request, who: OperatorDep, phone: str = "") -> Response:
    return await _page(request, who, phone=phone.strip())


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _audit(request: Request, who: Viewer, action: str, items: Sequence[str]) -> None:
    console = console_of(request)
    await console.store.audit_console(who.session.user, None, action, _summary(items),
                                      console.api.clock.now())


@router.post("/operator/lists/keywords/add")
async def add_keywords(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    t = i18n.words(who.lang)
    lines = _lines(_text(form, "words"))
    if not lines:
        return await _page(request, who, **_unusable(lines, t))
    words = [normalise(line) for _, line in lines]
    bad = [n for (n, _), w in zip(lines, words, strict=True) if len(w) > MAX_KEYWORD_LENGTH]
    if bad:
        return await _page(request, who, status=400, error=t["ops_keyword_bad"].format(
            lines=_named(bad), n=MAX_KEYWORD_LENGTH))
    console = console_of(request)
    added = await console.store.add_keywords(None, words, console.api.clock.now())
    if added:
        await _audit(request, who, "keywords added", added)
    return await _page(request, who, notice=t["ops_keywords_added"].format(
        n=len(added), m=len(set(words)) - len(added)))


@router.post("/operator/lists/keywords/remove")
async def remove_keywords(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    t = i18n.words(who.lang)
    words = sorted({normalise(w) for w in form.getlist("word") if isinstance(w, str)})
    if not words:
        return await _page(request, who, status=400, error=t["ops_select_none_list"])
    if len(words) > MAX_LINES:
        return await _page(request, who, status=413, error=t["ops_paste_long"].format(
            n=MAX_LINES, c=MAX_PASTE_CHARS))
    removed = await console_of(request).store.remove_keywords(None, words)
    if removed:
        await _audit(request, who, "keywords removed", words)
    return await _page(request, who, notice=t["ops_removed"].format(n=removed))


def _numbers(lines: list[tuple[int, str]]) -> tuple[list[PhoneNumber], list[int]]:
    """The numbers of the lines, and the lines that are not one."""
    good: list[PhoneNumber] = []
    bad: list[int] = []
    for n, line in lines:
        found = numbers.normalize(line)
        if isinstance(found, Refusal):
            bad.append(n)
        else:
            good.append(found)
    return good, bad


@router.post("/operator/lists/blacklist/add")
async def add_blacklisted(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    t = i18n.words(who.lang)
    lines = _lines(_text(form, "numbers"))
    if not lines:
        return await _page(request, who, **_unusable(lines, t))
    signs = tuple(dict.fromkeys(s.strip() for s in _text(form, "signatures")
                                .replace("，", ",").split(",") if s.strip()))
    if len(signs) > MAX_SIGNATURES or any(len(s) > 64 for s in signs):
        return await _page(request, who, status=400,
                           error=t["ops_signatures_bad"].format(n=MAX_SIGNATURES))
    good, bad = _numbers(lines)
    if bad:
        return await _page(request, who, status=400,
                           error=t["ops_number_bad"].format(lines=_named(bad)))
    console = console_of(request)
    now = console.api.clock.now()
    source = _text(form, "source").strip()[:32] or "console"
    unique = list(dict.fromkeys(good))
    await console.store.add_blacklisted([BlacklistEntry(p, signs, source, now)
                                         for p in unique])
    await _audit(request, who, "blacklist added", unique)
    return await _page(request, who, notice=t["ops_blacklist_added"].format(n=len(unique)))


@router.post("/operator/lists/blacklist/remove")
async def remove_blacklisted(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    t = i18n.words(who.lang)
    lines = _lines(_text(form, "numbers"))
    ticked = [p for p in form.getlist("phone") if isinstance(p, str)]
    if lines is None or len(ticked) > MAX_LINES:
        return await _page(request, who, status=413, error=t["ops_paste_long"].format(
            n=MAX_LINES, c=MAX_PASTE_CHARS))
    good, bad = _numbers([*lines, *((0, p) for p in ticked)])
    if bad:
        return await _page(request, who, status=400,
                           error=t["ops_number_bad"].format(lines=_named(bad)))
    unique = list(dict.fromkeys(good))
    if not unique:
        return await _page(request, who, status=400, error=t["ops_select_none_list"])
    console = console_of(request)
    removed = await console.store.remove_blacklisted(unique, console.api.clock.now())
    if removed:
        await _audit(request, who, "blacklist removed", unique)
    return await _page(request, who, notice=t["ops_blacklist_removed"].format(
        n=removed, m=len(unique) - removed))
