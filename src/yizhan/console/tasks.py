"""Send tasks, the group-send assistant (群发助手; docs/console.md "Send tasks"): the account's
tasks with their state and progress, a new task from a number file, one task's pre-flight
report, schedule, actions, live progress and failures, and its exports.

    GET  /console/tasks                       the tasks, and the form of a new one
    POST /console/tasks                       upload a number file: a draft task (multipart)
    GET  /console/tasks/{id}?at=              one task: its report (for a start at `at`,
                                              China time), progress, failures, actions
    POST /console/tasks/{id}/schedule         start by itself at a China time
    POST /console/tasks/{id}/start|pause|resume|cancel
    POST /console/tasks/{id}/resend           a new draft task of the retryable failures
    GET  /console/tasks/{id}/rejected.csv     the rows the import refused, with line numbers
    GET  /console/tasks/{id}/results.csv      every number with its outcome (?failures=1:
                                              only failed, unknown and refused ones)

Every rule is the task service's (`tasks/service.py`), the very one POST /v1/tasks calls;
this module reads the forms and shows the answers. The upload streams as the API's does
(`api/multipart.read_form`: the file to a temporary file, the body counted against the task
import's size limit plus the form's), and a body over it is refused with a page that says
so. A viewer sees everything and changes nothing (403); another account's task answers
"not found". While a task runs or receipts are awaited the page reloads itself every few
seconds (a `<meta http-equiv="refresh">`: no script needed).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from yizhan.api.multipart import FORM_OVERHEAD, boundary_of, read_form
from yizhan.console import i18n
from yizhan.console.pages import (
    PREFIX,
    CsrfFailed,
    NotForYou,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.model import Account, AccountId, ReviewState
from yizhan.domain.tasks import ProgressState, SendTask, TaskId, TaskSpec, TaskState
from yizhan.domain.timezone import CHINA, china_text
from yizhan.policy import templates as template_text
from yizhan.policy.balance import money
from yizhan.tasks.service import CANCELLABLE, PAUSABLE, STARTABLE, TaskService
from yizhan.tasks.views import done

router = APIRouter(prefix=PREFIX, include_in_schema=False)

UPLOAD_PATH = PREFIX + "/tasks"
"""The console's upload: `FastPaths` (api/app.py) leaves its body to this route's bound."""
SHOWN = 50
"""The most tasks the list shows, newest first (the API's GET /v1/tasks gives 1,000)."""
REFRESH_SECONDS = 3
MAX_TASK_ID = 2**63 - 1
ACTIONS = ("start", "pause", "resume", "cancel")
MOVING = (TaskState.RUNNING, TaskState.PAUSED)
"""The tasks whose progress the list shows (the others: their state says it)."""
FAILURES = frozenset({ProgressState.FAILED, ProgressState.UNKNOWN, ProgressState.REFUSED})

i18n.add({
    "tasks": ("Send tasks", "群发助手"),
    "tasks_new": ("New send task", "新建群发任务"),
    "tasks_file": ("Number file (.csv, .xlsx or .txt)", "号码文件（.csv、.xlsx 或 .txt）"),
    "tasks_file_help": (
        "At most {mb} MB and {numbers} numbers. A CSV or XLSX file's first row may name its "
        "columns: the number's (phone, mobile, 手机号 …) and one per template variable; a "
        "TXT file is one number per line.",
        "最大 {mb} MB、{numbers} 个号码。CSV 或 XLSX 文件的首行可为列名：号码列（phone、mobile、"
        "手机号 …），以及每个模板变量一列；TXT 文件每行一个号码。"),
    "tasks_name": ("Task name", "任务名称"),
    "tasks_file_name": ("File", "文件"),
    "tasks_params": ("Values for all numbers", "统一变量值"),
    "tasks_params_help": (
        "One line per variable, name=value: every number gets that value. A variable not "
        "given here is read from the file's column of its name.",
        "每行一个变量，格式 name=value，所有号码使用该值；未在此填写的变量从文件中同名列读取。"),
    "tasks_rate": ("Rate (messages per second, empty: as fast as possible)",
                   "发送速率（条/秒，留空为不限）"),
    "tasks_upload": ("Upload and check", "上传并检查"),
    "tasks_none": ("No send task yet.", "还没有群发任务。"),
    "tasks_task": ("Task", "任务"),
    "tasks_state": ("State", "状态"),
    "tasks_progress": ("Progress", "进度"),
    "tasks_numbers": ("Numbers", "号码数"),
    "tasks_rejected": ("Rejected rows", "被拒行"),
    "tasks_created": ("Created", "创建时间"),
    "tasks_state_importing": ("importing", "导入中"),
    "tasks_state_draft": ("draft", "草稿"),
    "tasks_state_scheduled": ("scheduled", "已定时"),
    "tasks_state_running": ("running", "发送中"),
    "tasks_state_paused": ("paused", "已暂停"),
    "tasks_state_cancelled": ("cancelled", "已取消"),
    "tasks_state_finished": ("finished", "已完成"),
    "tasks_count_pending": ("pending", "待发送"),
    "tasks_count_submitted": ("submitted, awaiting receipt", "已提交，等待回执"),
    "tasks_count_delivered": ("delivered", "成功"),
    "tasks_count_failed": ("failed", "失败"),
    "tasks_count_unknown": ("unknown", "未知"),
    "tasks_count_refused": ("refused by the platform", "平台拒绝"),
    "tasks_count_cancelled": ("cancelled", "已取消"),
    "tasks_done_of": ("{done} of {total} done", "已完成 {done} / {total}"),
    "tasks_report": ("Pre-flight report", "发送前检查"),
    "tasks_report_at": ("For a start at (China time)", "计划开始时间（北京时间）"),
    "tasks_report_again": ("Check for this time", "按此时间检查"),
    "tasks_sendable": ("Sendable numbers", "可发送号码"),
    "tasks_invalid": ("Invalid numbers", "无效号码"),
    "tasks_duplicates": ("Duplicates", "重复号码"),
    "tasks_blacklisted": ("Blacklisted", "黑名单"),
    "tasks_opted_out": ("Opted out", "已退订"),
    "tasks_frequency": ("Refused by frequency limits at that time", "该时间被频率限制拒绝"),
    "tasks_by_carrier": ("By carrier", "按运营商"),
    "tasks_by_country": ("By country or region", "按国家或地区"),
    "tasks_promotion_hours": ("Promotion hours (08:00-22:00 China time)",
                              "营销短信发送时段（北京时间 08:00-22:00）"),
    "tasks_within_hours": ("within them", "在时段内"),
    "tasks_outside_hours": ("outside them: sending begins {at}", "不在时段内：将于 {at} 开始发送"),
    "tasks_parts": ("Parts (billed messages)", "计费条数"),
    "tasks_parts_each": ("{parts} in all; {each} per message", "共 {parts} 条；每条短信 {each} 条"),
    "tasks_cost": ("Cost", "费用"),
    "tasks_cost_text": ("{cost} yuan beyond the packages' {left} parts ({price} yuan a part); "
                        "balance {balance} yuan",
                        "套餐包剩余 {left} 条之外需 {cost} 元（每条 {price} 元）；"
                        "余额 {balance} 元"),
    "tasks_covered": ("covered", "足够支付"),
    "tasks_not_covered": ("NOT covered: top up or buy a package first",
                          "不足以支付：请先充值或购买套餐包"),
    "tasks_duration": ("Expected duration", "预计用时"),
    "tasks_duration_text": ("{seconds} s at {rate} messages/s", "{seconds} 秒（每秒 {rate} 条）"),
    "tasks_duration_fast": ("as fast as dispatch goes (no rate set)", "不限速（未设置速率）"),
    "tasks_actions": ("Actions", "操作"),
    "tasks_start": ("Start now", "立即开始"),
    "tasks_schedule": ("Schedule", "定时发送"),
    "tasks_schedule_at": ("Start at (China time)", "开始时间（北京时间）"),
    "tasks_pause": ("Pause", "暂停"),
    "tasks_resume": ("Resume", "继续"),
    "tasks_cancel": ("Cancel the task", "取消任务"),
    "tasks_resend": ("Resend the retryable failures (a new task)",
                     "重发可重试的失败号码（新任务）"),
    "tasks_failures": ("Failures by code", "失败原因"),
    "tasks_code": ("Code", "错误码"),
    "tasks_meaning": ("What it means", "含义"),
    "tasks_no_failures": ("No failure so far.", "暂无失败。"),
    "tasks_downloads": ("Downloads", "下载"),
    "tasks_download_rejected": ("Rejected rows (CSV, with line numbers)", "被拒行（CSV，含行号）"),
    "tasks_download_results": ("Every number's outcome (CSV)", "全部号码结果（CSV）"),
    "tasks_download_failures": ("The failures (CSV)", "失败号码（CSV）"),
    "tasks_see_records": ("The task's send records", "该任务的发送记录"),
    "tasks_refreshing": ("This page refreshes itself every {seconds} seconds.",
                         "本页每 {seconds} 秒自动刷新。"),
    "tasks_waiting_until": ("Waiting until {at}", "等待至 {at}"),
    "tasks_last_error": ("Paused because", "暂停原因"),
    "tasks_from": ("Resend of task {id}", "任务 {id} 的重发"),
    "tasks_refused": ("Refused: {code}: {message}", "未执行：{code}：{message}"),
    "tasks_not_found": ("No such send task in this account.", "本账户没有该群发任务。"),
    "tasks_no_signature": ("No approved signature yet.", "还没有已通过审核的签名。"),
    "tasks_no_template": ("No approved template yet.", "还没有已通过审核的模板。"),
    "tasks_signature": ("Signature", "签名"),
    "tasks_template": ("Template", "模板"),
    "tasks_bad_time": ("A time is YYYY-MM-DDTHH:MM, China time.",
                       "时间格式为 YYYY-MM-DDTHH:MM（北京时间）。"),
    "tasks_bad_params": ("Values for all: one name=value a line.",
                         "统一变量值：每行一个 name=value。"),
})


def service_of(request: Request) -> TaskService:
    found = console_of(request).api.tasks
    assert found is not None, "the composition root wires the send tasks"
    return found


async def _account(request: Request, account_id: AccountId) -> Account:
    account = await console_of(request).api.store.account(account_id)
    if account is None:  # a session's account is never deleted; answer as a stranger's
        raise NotForYou
    return account


def _lang(who: Viewer) -> Lang:
    return Lang.ZH if who.lang == "zh" else Lang.EN


def _refused(who: Viewer, refusal: Refusal) -> str:
    return i18n.words(who.lang)["tasks_refused"].format(code=refusal.code,
                                                        message=refusal.message(_lang(who)))


def _row(task: SendTask, counts: dict[ProgressState, int] | None = None) -> dict[str, Any]:
    return {"id": task.id, "name": task.name or task.file_name, "state": task.state.value,
            "sign_name": task.sign_name, "template_code": task.template_code,
            "file_name": task.file_name, "numbers": task.total, "rejected": task.rejected,
            "created_at": china_text(task.created_at),
            "start_at": china_text(task.start_at) if task.start_at else "",
            "started_at": china_text(task.started_at) if task.started_at else "",
            "finished_at": china_text(task.finished_at) if task.finished_at else "",
            "rate": task.rate, "params": task.params, "source_task": task.source_task,
            "last_error": task.last_error}


# The list and the upload

@router.get("/tasks")
async def tasks(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    return await _list(request, who, account_id)


async def _list(request: Request, who: Viewer, account_id: AccountId, error: str = "",
                status: int = 200, given: dict[str, str] | None = None) -> Response:
    service = service_of(request)
    account = await _account(request, account_id)
    shown = []
    for task in await service.tasks(account, SHOWN):
        # The counts of the tasks in motion only: counting a finished task of 500,000
        # numbers on every view of the list is its page's work, not the list's.
        progress = (await service.progress(account, task.id) if task.state in MOVING
                    else None)
        shown.append(_row(task) | {"done": None if progress is None or isinstance(
            progress, Refusal) else done(progress)})
    store = console_of(request).api.store
    _, signatures = await store.page_signatures(account_id, 0, 200)
    _, approved = await store.page_templates(account_id, 0, 200, state=ReviewState.APPROVED)
    limit = console_of(request).api.task_max_file_bytes
    return render(request, "tasks.html", who.lang, who, status=status, tasks=shown,
                  error=error, given=given or {},
                  signatures=[s.name for s in signatures if s.state is ReviewState.APPROVED],
                  templates=[{"code": t.code, "name": t.name,
                              "variables": ", ".join(f"${{{v}}}"
                                                     for v in template_text.variables(t.content))}
                             for t in approved],
                  max_mb=f"{limit / 1_048_576:g}", max_numbers=_max_numbers(request))


def _max_numbers(request: Request) -> str:
    return f"{service_of(request).limits.max_numbers:,}"


@router.post("/tasks")
async def upload(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    """Read the multipart form as it streams, bounded as POST /v1/tasks bounds it."""
    api = console_of(request).api
    limit = api.task_max_file_bytes + FORM_OVERHEAD
    too_large = Refusal("isv.TASK_FILE_TOO_LARGE",
                        f"at most {api.task_max_file_bytes} bytes (a body of at most {limit})")
    length = request.headers.get("content-length", "")
    boundary = boundary_of(request.headers.get("content-type", ""))
    if length.isdigit() and int(length) > limit:
        refusal: Refusal | None = too_large
    elif boundary is None:
        refusal = Refusal("InvalidParameter", "the form must be multipart/form-data")
    else:
        refusal = None
    if refusal is not None:
        # A browser shows an answer only once it has sent its body: `FastPaths` reads a
        # body of a few times the limit to its end before this page leaves (limits.Drain).
        return await _refused_upload(request, who, account_id, refusal)
    assert boundary is not None
    form = await read_form(boundary, request.stream(), limit, too_large)
    try:
        sent = form.fields.get("csrf", "")
        if not hmac.compare_digest(sent.encode(), who.session.csrf.encode()):
            raise CsrfFailed
        if not who.admin:
            raise NotForYou
        if form.refusal is not None:
            answer = await _refused_upload(request, who, account_id, form.refusal,
                                           form.fields)
            answer.headers["connection"] = "close"
            return answer
        spec = _spec(form.fields, i18n.words(who.lang))
        if form.file is None or not form.file_name:
            spec = Refusal("MissingParameter", "file")
        if isinstance(spec, Refusal):
            return await _refused_upload(request, who, account_id, spec, form.fields)
        assert form.file is not None
        form.file.seek(0)
        created = await service_of(request).create(await _account(request, account_id),
                                                   spec, form.file, form.file_name)
    finally:
        form.close()
    if isinstance(created, Refusal):
        return await _refused_upload(request, who, account_id, created, form.fields)
    await console_of(request).store.audit_console(
        who.session.user, account_id, "task created", f"task {created.id}",
        api.clock.now())
    return RedirectResponse(f"{PREFIX}/tasks/{created.id}", 303)


async def _refused_upload(request: Request, who: Viewer, account_id: AccountId,
                          refusal: Refusal, given: dict[str, str] | None = None) -> Response:
    return await _list(request, who, account_id, error=_refused(who, refusal),
                       status=refusal.error.http_status, given=given)


def _spec(fields: dict[str, str], t: Any) -> TaskSpec | Refusal:
    for name in ("sign_name", "template_code"):
        if not fields.get(name, "").strip():
            return Refusal("MissingParameter", name)
    params: dict[str, str] = {}
    for line in fields.get("params", "").splitlines():
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            return Refusal("InvalidParameter", t["tasks_bad_params"], "params")
        params[name.strip()] = value.strip()
    rate: float | None = None
    if fields.get("rate", "").strip():
        try:
            rate = float(fields["rate"])
        except ValueError:
            return Refusal("InvalidParameter", "rate: messages per second, a number", "rate")
    return TaskSpec(fields["sign_name"].strip(), fields["template_code"].strip(),
                    fields.get("name", "").strip()[:128], params, rate)


# One task

def _china_time(text: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM` (a datetime-local field) as a moment of China time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=CHINA) if moment.tzinfo is None else moment


def _task_id(task_id: int) -> TaskId | None:
    return TaskId(task_id) if 0 < task_id <= MAX_TASK_ID else None


@router.get("/tasks/{task_id}")
async def task_page(request: Request, who: ViewerDep, account_id: TenantDep, task_id: int,
                    at: str = "") -> Response:
    return await _task_page(request, who, account_id, task_id, at=at[:32])


async def _task_page(request: Request, who: Viewer, account_id: AccountId, task_id: int,
                     at: str = "", error: str = "", status: int = 200) -> Response:
    service = service_of(request)
    account = await _account(request, account_id)
    wanted = _task_id(task_id)
    task = (await service.task(account, wanted) if wanted is not None
            else Refusal("isv.TASK_NOT_FOUND", str(task_id)))
    if isinstance(task, Refusal):
        return render(request, "task.html", who.lang, who, status=404, task=None)
    t = i18n.words(who.lang)
    progress = await service.progress(account, task.id, _lang(who))
    assert not isinstance(progress, Refusal)
    report = None
    planned = _china_time(at) if at else None
    if at and planned is None:
        error = error or t["tasks_bad_time"]
    if task.state in STARTABLE:
        found = await service.preflight(account, task.id, planned)
        report = None if isinstance(found, Refusal) else found
    counts = {s.value: progress.counts.get(s, 0) for s in ProgressState}
    waiting = counts["submitted"] > 0 or task.state is TaskState.RUNNING
    return render(
        request, "task.html", who.lang, who, status=status, task=_row(task), error=error,
        counts=counts, done=done(progress), parts=progress.parts,
        waiting_until=china_text(progress.waiting_until) if progress.waiting_until else "",
        failures=[{"code": code, "numbers": number,
                   "meaning": progress.explanations.get(code, "")}
                  for code, number in sorted(progress.failure_codes.items(),
                                             key=lambda item: (-item[1], item[0]))],
        report=_report(report, t) if report is not None else None,
        at=(report.at.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M") if report else ""),
        refresh=REFRESH_SECONDS if waiting else None,
        can={"start": task.state in STARTABLE, "schedule": task.state in STARTABLE,
             "pause": task.state in PAUSABLE, "resume": task.state is TaskState.PAUSED,
             "cancel": task.state in CANCELLABLE,
             "resend": any(counts[s.value] for s in FAILURES)})


def _report(report: Any, t: Any) -> dict[str, Any]:
    return {"numbers": report.numbers, "sendable": report.sendable, "invalid": report.invalid,
            "duplicates": report.duplicates, "blacklisted": report.blacklisted,
            "opted_out": report.opted_out, "frequency": report.frequency_refused,
            "carriers": sorted(((t.get(f"carrier_{k}", k), v)
                                for k, v in report.carriers.items()), key=lambda c: -c[1]),
            "countries": sorted(report.countries.items(), key=lambda c: -c[1]),
            "promotion": report.promotion, "within_hours": report.within_hours,
            "next_start": china_text(report.next_start) if report.next_start else "",
            "parts": report.parts,
            "each": "/".join(str(p) for p in report.parts_per_message) or "-",
            "cost": money(report.cost), "price": money(report.part_price),
            "left": report.package_parts, "balance": money(report.balance),
            "covered": report.covered, "rate": report.rate,
            "seconds": f"{report.seconds:,.1f}" if report.seconds is not None else None}


async def _change(request: Request, who: Viewer) -> dict[str, Any]:
    """The form of a change: its CSRF token checked, refused to a viewer."""
    form = await admin_form(request, who)
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _after(request: Request, who: Viewer, account_id: AccountId, task_id: int,
                 result: SendTask | Refusal, action: str) -> Response:
    if isinstance(result, Refusal):
        if result.code == "isv.TASK_NOT_FOUND":
            return render(request, "task.html", who.lang, who, status=404, task=None)
        return await _task_page(request, who, account_id, task_id,
                                error=_refused(who, result), status=result.error.http_status)
    console = console_of(request)
    await console.store.audit_console(who.session.user, account_id, f"task {action}",
                                      f"task {result.id}", console.api.clock.now())
    return RedirectResponse(f"{PREFIX}/tasks/{result.id}", 303)


@router.post("/tasks/{task_id}/schedule")
async def schedule(request: Request, who: ViewerDep, account_id: TenantDep,
                   task_id: int) -> Response:
    form = await _change(request, who)
    wanted = _task_id(task_id)
    if wanted is None:
        return render(request, "task.html", who.lang, who, status=404, task=None)
    start_at = _china_time(form.get("start_at", "")[:32])
    if start_at is None:
        return await _task_page(request, who, account_id, task_id,
                                error=i18n.words(who.lang)["tasks_bad_time"], status=400)
    account = await _account(request, account_id)
    return await _after(request, who, account_id, task_id,
                        await service_of(request).schedule(account, wanted, start_at),
                        "scheduled")


@router.post("/tasks/{task_id}/{action}")
async def act(request: Request, who: ViewerDep, account_id: TenantDep, task_id: int,
              action: str) -> Response:
    """start, pause, resume, cancel; resend: a new draft task of the retryable failures."""
    await _change(request, who)
    wanted = _task_id(task_id)
    if wanted is None or action not in (*ACTIONS, "resend"):
        return render(request, "task.html", who.lang, who, status=404, task=None)
    service = service_of(request)
    account = await _account(request, account_id)
    acts = {"start": service.start, "pause": service.pause, "resume": service.resume,
            "cancel": service.cancel, "resend": service.resend_failures}
    return await _after(request, who, account_id, task_id,
                        await acts[action](account, wanted), action)


# Downloads

@router.get("/tasks/{task_id}/rejected.csv")
async def rejected_csv(request: Request, who: ViewerDep, account_id: TenantDep,
                       task_id: int) -> Response:
    wanted = _task_id(task_id)
    account = await _account(request, account_id)
    text = (await service_of(request).export_rejected(account, wanted) if wanted else None)
    return _csv(request, who, text, f"task-{task_id}-rejected.csv")


@router.get("/tasks/{task_id}/results.csv")
async def results_csv(request: Request, who: ViewerDep, account_id: TenantDep,
                      task_id: int, failures: bool = False) -> Response:
    wanted = _task_id(task_id)
    account = await _account(request, account_id)
    text = (await service_of(request).export_results(
        account, wanted, FAILURES if failures else frozenset()) if wanted else None)
    name = f"task-{task_id}-{'failures' if failures else 'results'}.csv"
    return _csv(request, who, text, name)


def _csv(request: Request, who: Viewer, text: AsyncIterator[str] | Refusal | None,
         name: str) -> Response:
    if text is None or isinstance(text, Refusal):
        return render(request, "task.html", who.lang, who, status=404, task=None)
    return StreamingResponse(_with_bom(text), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store",
                                      "X-Content-Type-Options": "nosniff"})


async def _with_bom(text: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """UTF-8 with a byte-order mark, so that spreadsheets read the Chinese right (as the
    statistics' CSV)."""
    yield "\ufeff".encode()
    async for piece in text:
        yield piece.encode()
