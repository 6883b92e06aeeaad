"""Send tasks (群发助手) in the native REST API (docs/tasks.md "REST"):

    POST /v1/tasks                          upload a number file: a draft task (multipart)
    GET  /v1/tasks                          the account's tasks, newest first
    GET  /v1/tasks/{id}                     one task
    GET  /v1/tasks/{id}/preflight?at=       the report before anything is sent
    POST /v1/tasks/{id}/schedule            {"start_at": "2026-12-08T09:00:00+08:00"}
    POST /v1/tasks/{id}/start|pause|resume|cancel
    GET  /v1/tasks/{id}/progress            counts by state, failures with explanations
    GET  /v1/tasks/{id}/rejected-rows       the rows the import refused (CSV)
    GET  /v1/tasks/{id}/results?states=     every number with its outcome (CSV)
    GET  /v1/tasks/{id}/messages            the task's message records, paged
    POST /v1/tasks/{id}/resend-failures     a new draft task of the retryable failures

Every rule is the service's (`tasks/service.py`); the routes read the request, call it and
show its answer (`tasks/views.py`). A task of another account answers isv.TASK_NOT_FOUND.
The upload streams: `FastPaths` lets its body past the API's body limit, and this route
bounds it by the file limit plus `FORM_OVERHEAD`, the file going to a temporary file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from yizhan.api.errors import (
    error_responses,
    json_response,
    language,
    refusal_response,
    request_id,
)
from yizhan.api.multipart import FORM_OVERHEAD, boundary_of, read_form
from yizhan.api.rest.messages import AccountDep, message_json
from yizhan.api.rest.records import CsvResponse, attachment
from yizhan.api.services import services_of
from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account
from yizhan.domain.tasks import ProgressState, SendTask, TaskId, TaskSpec
from yizhan.tasks.service import TaskService
from yizhan.tasks.views import preflight_json, progress_json, task_json

router = APIRouter(prefix="/v1/tasks", tags=["send tasks"])

UPLOAD_PATH = "/v1/tasks"

TASK_EXAMPLE: dict[str, Any] = {
    "task_id": "7", "name": "December notice", "state": "draft", "sign_name": "驿站",
    "template_code": "SMS_100000002", "template_type": "notification",
    "file_name": "numbers.csv", "numbers": 5, "rejected": 2, "duplicates": 1,
    "params": {}, "rate": 50.0, "out_id": "task-7",
    "created_at": "2026-12-07T21:10:00+08:00", "start_at": None, "started_at": None,
    "finished_at": None, "source_task_id": None, "last_error": ""}
PREFLIGHT_EXAMPLE: dict[str, Any] = {
    "task_id": "7", "at": "2026-12-08T09:00:00+08:00", "numbers": 5, "invalid": 1,
    "duplicates": 1, "blacklisted": 1, "opted_out": 0, "frequency_refused": 0,
    "sendable": 4, "carriers": {"china_mobile": 5}, "countries": {"CN": 5},
    "promotion": False, "within_hours": True, "next_start": None,
    "parts_per_message": [1], "parts": 4, "part_price": "0.045", "cost": "0.180",
    "package_parts": 0, "balance": "100.000", "covered": True, "rate": 50.0,
    "seconds": 0.1}
PROGRESS_EXAMPLE: dict[str, Any] = {
    "task_id": "7", "state": "running", "numbers": 5,
    "counts": {"pending": 1, "submitted": 1, "delivered": 1, "failed": 1, "unknown": 0,
               "refused": 1, "cancelled": 0},
    "done": 3, "parts": 3, "waiting_until": None,
    "failures": [{"code": "isv.BLACK_KEY_CONTROL_LIMIT", "numbers": 1,
                  "explanation": "The number is on the platform blacklist."},
                 {"code": "UNDELIV", "numbers": 1,
                  "explanation": "The handset could not be reached; send again later."}]}
REJECTED_EXAMPLE = "line,value,reason\n4,13800138000,duplicate of line 2\n5,12345,invalid number\n"
RESULTS_EXAMPLE = ("line,phone,state,error_code,reason,biz_id,message_id\n"
                   "2,13800138000,delivered,DELIVERED,,100000000000000001^0,1\n"
                   "3,13800138001,refused,isv.BLACK_KEY_CONTROL_LIMIT,"
                   "blacklisted,100000000000000001^0,2\n")


def _ok_example(**fields: Any) -> dict[str, Any]:
    return {"request_id": "6B0C1C2E-4D3A-4E7B-9A55-0F1E2D3C4B5A", "code": "OK",
            "message": "OK", **fields}


def _answers(example: dict[str, Any], *codes: str) -> dict[int | str, Any]:
    """The route's refusals and its answer, with an example."""
    return {200: {"description": "OK", "content": {"application/json": {
        "example": _ok_example(**example)}}}, **error_responses(*codes)}


def _csv_answers(example: str, *codes: str) -> dict[int | str, Any]:
    return {200: {"description": "A CSV file (UTF-8).", "content": {"text/csv": {
        "schema": {"type": "string"}, "example": example}}}, **error_responses(*codes)}


def _ok(**fields: Any) -> Response:
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK", **fields})


def tasks_of(request: Request) -> TaskService:
    tasks = services_of(request).tasks
    assert tasks is not None, "the composition root wires the send tasks (app.py)"
    return tasks


def _task_answer(request: Request, result: SendTask | Refusal) -> Response:
    if isinstance(result, Refusal):
        return refusal_response(request, result)
    return _ok(task=task_json(result))


TaskPath = Path(ge=1, le=2**63 - 1, description="A task id (`task_id` of the upload).")

# Uploading

UPLOAD_CODES = ("MissingParameter", "isv.TASK_FILE_TOO_LARGE", "isv.TASK_TOO_MANY_NUMBERS",
                "isv.TASK_FILE_UNREADABLE", "isv.TASK_NO_NUMBERS",
                "isv.TASK_MISSING_VARIABLE", "isv.SMS_SIGNATURE_ILLEGAL",
                "isv.SMS_TEMPLATE_ILLEGAL")
UPLOAD_FORM: dict[str, Any] = {"type": "object", "required": ["file", "sign_name",
                                                               "template_code"],
                               "properties": {
    "file": {"type": "string", "format": "binary", "description":
             "The numbers: .csv (a header row names the columns: `phone` and one per "
             "template variable), .txt (one number per line) or .xlsx; at most "
             "task_max_file_bytes (3 MB) and task_max_numbers (500,000)."},
    "sign_name": {"type": "string", "description": "An approved signature of the account."},
    "template_code": {"type": "string", "description": "An approved template."},
    "name": {"type": "string", "description": "The task's name, for you."},
    "params": {"type": "string", "description": "JSON object: one value for all numbers per "
               "template variable; a variable not given here is read from its column."},
    "rate": {"type": "number", "description": "At most this many messages per second "
             "(default: as fast as dispatch goes)."},
    "out_id": {"type": "string", "description": "The OutId of every message "
               "(default: task-<id>)."}},
    "example": {"file": "phone,order\n13800138000,A1\n", "sign_name": "驿站",
                "template_code": "SMS_100000002", "name": "December notice", "rate": 50}}


@router.post("", summary="Upload a number file: a draft task (multipart/form-data)",
             responses=_answers({"task": TASK_EXAMPLE}, *UPLOAD_CODES),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": UPLOAD_FORM}}}})
async def create(request: Request, account: AccountDep) -> Response:
    services = services_of(request)
    limit = services.task_max_file_bytes + FORM_OVERHEAD
    too_large = Refusal("isv.TASK_FILE_TOO_LARGE",
                        f"a body of more than {limit} bytes (a file of at most "
                        f"{services.task_max_file_bytes} bytes and the form)")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return _closing(refusal_response(request, too_large))
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        return _closing(refusal_response(request, Refusal(
            "InvalidParameter", "the body must be multipart/form-data with a file part")))
    form = await read_form(boundary, request.stream(), limit, too_large)
    if form.refusal is not None:
        return _closing(refusal_response(request, form.refusal))
    try:
        spec = _spec(form.fields)
        if form.file is None:
            spec = Refusal("MissingParameter", "file")
        if isinstance(spec, Refusal):
            return refusal_response(request, spec)
        assert form.file is not None
        form.file.seek(0)
        created = await tasks_of(request).create(account, spec, form.file,
                                                 form.file_name or "numbers.csv")
    finally:
        form.close()
    return _task_answer(request, created)


def _closing(response: Response) -> Response:
    """A refusal before the body was read to its end: the connection is not read on."""
    response.headers["connection"] = "close"
    return response


def _spec(fields: dict[str, str]) -> TaskSpec | Refusal:
    for name in ("sign_name", "template_code"):
        if not fields.get(name):
            return Refusal("MissingParameter", name)
    params: Any = {}
    if fields.get("params"):
        try:
            params = orjson.loads(fields["params"])
        except orjson.JSONDecodeError:
            params = None
        if not isinstance(params, dict) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool)
                for v in params.values()):
            return Refusal("InvalidParameter", "params: a JSON object of strings", "params")
    rate: float | None = None
    if fields.get("rate"):
        try:
            rate = float(fields["rate"])
        except ValueError:
            return Refusal("InvalidParameter", "rate: messages per second, a number", "rate")
    return TaskSpec(fields["sign_name"], fields["template_code"], fields.get("name", ""),
                    {k: str(v) for k, v in params.items()}, rate, fields.get("out_id", ""))


# Reading

@router.get("", summary="The account's send tasks, newest first",
            responses=_answers({"tasks": [TASK_EXAMPLE]}))
async def list_tasks(request: Request, account: AccountDep,
                     limit: int = Query(100, ge=1, le=1000)) -> Response:
    return _ok(tasks=[task_json(t) for t in await tasks_of(request).tasks(account, limit)])


@router.get("/{task_id}", summary="One send task",
            responses=_answers({"task": TASK_EXAMPLE}, "isv.TASK_NOT_FOUND"))
async def show(request: Request, account: AccountDep, task_id: int = TaskPath) -> Response:
    return _task_answer(request, await tasks_of(request).task(account, TaskId(task_id)))


@router.get("/{task_id}/preflight",
            summary="The pre-flight report: what the task would do, nothing sent",
            responses=_answers({"preflight": PREFLIGHT_EXAMPLE}, "isv.TASK_NOT_FOUND"))
async def preflight(request: Request, account: AccountDep, task_id: int = TaskPath,
                    at: datetime | None = Query(
                        None, description="The planned start, ISO 8601 with its zone "
                        "[default: the task's scheduled start, else now].",
                        examples=["2026-12-08T09:00:00+08:00"])) -> Response:
    if at is not None and at.tzinfo is None:
        return refusal_response(request, Refusal(
            "InvalidParameter", "at: the time needs its time zone (China time: +08:00)",
            "at"))
    report = await tasks_of(request).preflight(account, TaskId(task_id), at)
    if isinstance(report, Refusal):
        return refusal_response(request, report)
    return _ok(preflight=preflight_json(report))


@router.get("/{task_id}/progress", summary="Counts by state and the failures explained",
            responses=_answers({"progress": PROGRESS_EXAMPLE}, "isv.TASK_NOT_FOUND"))
async def progress(request: Request, account: AccountDep,
                   task_id: int = TaskPath) -> Response:
    found = await tasks_of(request).progress(account, TaskId(task_id), language(request))
    if isinstance(found, Refusal):
        return refusal_response(request, found)
    return _ok(progress=progress_json(found))


@router.get("/{task_id}/rejected-rows", summary="The rows the import refused, as CSV",
            response_class=CsvResponse,
            responses=_csv_answers(REJECTED_EXAMPLE, "isv.TASK_NOT_FOUND"))
async def rejected_rows(request: Request, account: AccountDep,
                        task_id: int = TaskPath) -> Response:
    text = await tasks_of(request).export_rejected(account, TaskId(task_id))
    if isinstance(text, Refusal):
        return refusal_response(request, text)
    return _csv(text, f"task-{task_id}-rejected.csv")


@router.get("/{task_id}/results", summary="Every number with its outcome, as CSV",
            response_class=CsvResponse,
            responses=_csv_answers(RESULTS_EXAMPLE, "isv.TASK_NOT_FOUND"))
async def results(request: Request, account: AccountDep, task_id: int = TaskPath,
                  states: str | None = Query(
                      None, description="Only these states, comma-separated: "
                      + ", ".join(s.value for s in ProgressState)
                      + " (`failed,unknown,refused` exports the failures).",
                      examples=["failed,unknown,refused"])) -> Response:
    wanted = _states(states)
    if isinstance(wanted, Refusal):
        return refusal_response(request, wanted)
    text = await tasks_of(request).export_results(account, TaskId(task_id), wanted)
    if isinstance(text, Refusal):
        return refusal_response(request, text)
    return _csv(text, f"task-{task_id}-results.csv")


def _states(text: str | None) -> set[ProgressState] | Refusal:
    names = [s.strip() for s in (text or "").split(",") if s.strip()]
    known = {s.value: s for s in ProgressState}
    unknown = [n for n in names if n not in known]
    if unknown:
        return Refusal("InvalidParameter", f"states: some of {', '.join(known)}", "states")
    return {known[n] for n in names}


def _csv(text: AsyncIterator[str], name: str) -> Response:
    """A CSV export streamed as it is read, a page at a time."""
    return StreamingResponse(text, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": attachment(name)})


@router.get("/{task_id}/messages", summary="The task's message records, in file order",
            responses=_answers({"total": 5, "page": 1, "page_size": 20, "messages": []},
                               "isv.TASK_NOT_FOUND"))
async def task_messages(request: Request, account: AccountDep, task_id: int = TaskPath,
                        page: int = Query(1, ge=1, le=1_000_000),
                        page_size: int = Query(20, ge=1, le=100)) -> Response:
    found = await tasks_of(request).messages(account, TaskId(task_id),
                                             (page - 1) * page_size, page_size)
    if isinstance(found, Refusal):
        return refusal_response(request, found)
    total, shown = found
    codes = services_of(request).codes
    return _ok(total=total, page=page, page_size=page_size,
               messages=[message_json(m, codes) for m in shown])


# Changing state

SCHEDULE_BODY: dict[str, Any] = {"type": "object", "required": ["start_at"], "properties": {
    "start_at": {"type": "string", "format": "date-time", "description":
                 "When the task starts by itself: ISO 8601 with its zone (China time: "
                 "+08:00). A promotion outside 08:00-22:00 waits for 08:00."}},
    "example": {"start_at": "2026-12-08T09:00:00+08:00"}}
STATE_CODES = ("isv.TASK_NOT_FOUND", "isv.TASK_STATE_CONFLICT")


@router.post("/{task_id}/schedule", summary="Start by itself at a time (China time)",
             responses=_answers({"task": {**TASK_EXAMPLE, "state": "scheduled",
                                          "start_at": "2026-12-08T09:00:00+08:00"}},
                                "MissingParameter", *STATE_CODES),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": SCHEDULE_BODY}}}})
async def schedule(request: Request, account: AccountDep,
                   task_id: int = TaskPath) -> Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not body.get("start_at"):
        return refusal_response(request, Refusal("MissingParameter", "start_at"))
    try:
        start_at = datetime.fromisoformat(str(body["start_at"]))
    except ValueError:
        return refusal_response(request, Refusal(
            "InvalidParameter", "start_at: ISO 8601, e.g. 2026-12-08T09:00:00+08:00",
            "start_at"))
    return _task_answer(request, await tasks_of(request).schedule(account, TaskId(task_id),
                                                                  start_at))


async def _act(request: Request, account: Account, task_id: int, action: str) -> Response:
    service = tasks_of(request)
    acts = {"start": service.start, "pause": service.pause, "resume": service.resume,
            "cancel": service.cancel}
    return _task_answer(request, await acts[action](account, TaskId(task_id)))


@router.post("/{task_id}/start", summary="Start now (a draft or scheduled task)",
             responses=_answers({"task": {**TASK_EXAMPLE, "state": "running"}},
                                *STATE_CODES))
async def start(request: Request, account: AccountDep, task_id: int = TaskPath) -> Response:
    return await _act(request, account, task_id, "start")


@router.post("/{task_id}/pause", summary="Stop feeding numbers; what was accepted goes on",
             responses=_answers({"task": {**TASK_EXAMPLE, "state": "paused"}}, *STATE_CODES))
async def pause(request: Request, account: AccountDep, task_id: int = TaskPath) -> Response:
    return await _act(request, account, task_id, "pause")


@router.post("/{task_id}/resume", summary="Go on where a paused task stood",
             responses=_answers({"task": {**TASK_EXAMPLE, "state": "running"}},
                                *STATE_CODES))
async def resume(request: Request, account: AccountDep, task_id: int = TaskPath) -> Response:
    return await _act(request, account, task_id, "resume")


@router.post("/{task_id}/cancel",
             summary="Stop for good: numbers not yet submitted are never sent",
             responses=_answers({"task": {**TASK_EXAMPLE, "state": "cancelled"}},
                                *STATE_CODES))
async def cancel(request: Request, account: AccountDep, task_id: int = TaskPath) -> Response:
    return await _act(request, account, task_id, "cancel")


@router.post("/{task_id}/resend-failures",
             summary="A new draft task of the failures a resend may cure",
             responses=_answers({"task": {**TASK_EXAMPLE, "task_id": "8",
                                          "name": "December notice (resend)",
                                          "source_task_id": "7"}},
                                "isv.TASK_NOT_FOUND", "isv.TASK_NOTHING_TO_RESEND",
                                "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL"))
async def resend_failures(request: Request, account: AccountDep,
                          task_id: int = TaskPath) -> Response:
    return _task_answer(request, await tasks_of(request).resend_failures(account,
                                                                         TaskId(task_id)))

