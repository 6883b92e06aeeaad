"""The send tasks' service: what the REST API, the CLI and the console call (docs/tasks.md).

Every action takes the account it acts for and answers a typed result or a `Refusal` with a
registered code (`domain/errors.py`): `isv.TASK_NOT_FOUND` for a task of another account or
none, `isv.TASK_STATE_CONFLICT` for an action its state does not allow, the import's codes
(`isv.TASK_FILE_TOO_LARGE`, `isv.TASK_TOO_MANY_NUMBERS`, `isv.TASK_FILE_UNREADABLE`,
`isv.TASK_NO_NUMBERS`, `isv.TASK_MISSING_VARIABLE`) and the catalogue's (a signature or
template that is not approved: the API's own codes).

    create(account, spec, stream, file_name)  -> SendTask   (rows stored, state draft)
    preflight(account, task_id, at=None)      -> Preflight  (nothing sent, nothing counted)
    schedule(account, task_id, start_at)      -> SendTask   (state scheduled)
    start / pause / resume / cancel           -> SendTask
    progress(account, task_id)                -> TaskProgress
    rejected_rows(account, task_id)           -> list[RejectedRow]   (CSV: rejected_csv)
    results(account, task_id)                 -> list[ResultRow]     (CSV: results_csv)
    export_rejected / export_results          -> the same as CSV text, page by page
                                                 (`EXPORT_PAGE` rows: a 500,000-number
                                                 task's export never sits in memory whole)
    messages(account, task_id, offset, limit) -> (total, [Message])  (the records, by task)
    resend_failures(account, task_id)         -> SendTask   (a new draft task)

The sending itself is the engine's (`tasks/engine.py`), which runs the rows of running tasks
through intake; this service only changes states, which the engine reads every round.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence, Set
from datetime import datetime
from typing import IO, Protocol

import orjson

from yizhan.domain import codes
from yizhan.domain.errors import REGISTRY, Lang, Refusal
from yizhan.domain.model import (
    Account,
    AccountId,
    Message,
    Signature,
    Template,
    TemplateType,
)
from yizhan.domain.ports import Clock
from yizhan.domain.tasks import (
    Imported,
    ProgressState,
    RejectedRow,
    ResultRow,
    SendTask,
    TaskId,
    TaskProgress,
    TaskRow,
    TaskSpec,
    TaskState,
)
from yizhan.policy import templates
from yizhan.policy.compliance import check_signature, check_template
from yizhan.policy.quiet_hours import within_promotion_hours
from yizhan.records.resend import Resend, verdict
from yizhan.tasks.importing import FileRefused, Limits, read_file
from yizhan.tasks.preflight import Preflight, PreflightInputs, next_promotion_start

STARTABLE = (TaskState.DRAFT, TaskState.SCHEDULED)
PAUSABLE = (TaskState.RUNNING, TaskState.SCHEDULED)
CANCELLABLE = (TaskState.DRAFT, TaskState.SCHEDULED, TaskState.RUNNING, TaskState.PAUSED)
EXPORT_PAGE = 5_000
"""Rows per read of an export: its memory is one page, not the task."""


class Catalogue(Protocol):
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...


class TaskStore(Protocol):
    """The store's send tasks (`storage/tasks.py`)."""

    async def create_task(self, account_id: AccountId, spec: TaskSpec, template: Template,
                          file_name: str, imported: Imported, now: datetime,
                          source_task: TaskId | None = None) -> SendTask: ...
    async def task(self, account_id: AccountId, task_id: TaskId) -> SendTask | None: ...
    async def tasks(self, account_id: AccountId, limit: int = 100) -> list[SendTask]: ...
    async def change_task_state(self, task_id: TaskId, allowed: Sequence[TaskState],
                                to: TaskState, now: datetime,
                                start_at: datetime | None = None) -> bool: ...
    async def task_counts(self, task_id: TaskId) -> tuple[dict[ProgressState, int],
                                                           dict[str, int], int]: ...
    async def task_rejects(self, task_id: TaskId, after: int = 0,
                           limit: int | None = None) -> list[RejectedRow]: ...
    async def task_results(self, task_id: TaskId, after: int = -1,
                           limit: int | None = None) -> list[ResultRow]: ...
    async def task_messages(self, task_id: TaskId, offset: int,
                            limit: int) -> tuple[int, list[Message]]: ...
    async def task_rows(self, task_id: TaskId) -> list[TaskRow]: ...


class TaskService:
    def __init__(self, store: TaskStore, catalogue: Catalogue, clock: Clock,
                 limits: Limits, preflight: PreflightInputs) -> None:
        self._store = store
        self._catalogue = catalogue
        self._clock = clock
        self._limits = limits
        self._preflight = preflight

    @property
    def limits(self) -> Limits:
        """The import's limits (a number file's size and rows), for the surfaces to say."""
        return self._limits

    # Creating

    async def create(self, account: Account, spec: TaskSpec, stream: IO[bytes],
                     file_name: str) -> SendTask | Refusal:
        """Read the file (in a thread: a 3 MB file is seconds of work) and store its rows
        as a draft task. Refused whole: a signature or template not approved, a variable
        with neither a value nor a column, a file over the limits or unreadable, or no row
        with a number."""
        template = await self._usable(account.id, spec)
        if isinstance(template, Refusal):
            return template
        variables = templates.variables(template.content)
        wrong = _check_spec(spec, variables, template)
        if wrong is not None:
            return wrong
        try:
            imported = await asyncio.to_thread(read_file, stream, file_name, variables,
                                               spec.params, self._limits)
        except FileRefused as refused:
            return refused.refusal
        await asyncio.to_thread(_check_values, imported, template, spec.params)
        if not imported.rows:
            return Refusal("isv.TASK_NO_NUMBERS", f"{len(imported.rejected)} row(s) rejected")
        return await self._store.create_task(account.id, spec, template, file_name[-128:],
                                             imported, self._clock.now())

    async def _usable(self, account_id: AccountId, spec: TaskSpec) -> Template | Refusal:
        signature = await self._catalogue.signature(account_id, spec.sign_name)
        refused = check_signature(signature, spec.sign_name)
        if refused is not None:
            return refused
        template = await self._catalogue.template(account_id, spec.template_code)
        refused = check_template(template, spec.template_code)
        if refused is not None:
            return refused
        assert template is not None
        for name in spec.params:
            if name not in templates.variables(template.content):
                return Refusal("InvalidParameter",
                               f"the template has no variable ${{{name}}}", "params")
        return template

    # Reading

    async def task(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        found = await self._store.task(account.id, task_id)
        if found is None:
            return Refusal("isv.TASK_NOT_FOUND", str(task_id))
        return found

    async def tasks(self, account: Account, limit: int = 100) -> list[SendTask]:
        """The account's tasks, newest first."""
        return await self._store.tasks(account.id, limit)

    async def preflight(self, account: Account, task_id: TaskId,
                        at: datetime | None = None) -> Preflight | Refusal:
        """The report before anything is sent, for a start at `at` (default: the task's
        scheduled start, else now). Reads only: no frequency quota is taken."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        when = at or task.start_at or self._clock.now()
        template = await self._catalogue.template(account.id, task.template_code)
        rows = await self._store.task_rows(task.id)
        return await self._preflight.report(account, task,
                                            template.content if template else "", rows, when)

    async def progress(self, account: Account, task_id: TaskId,
                       lang: Lang = Lang.EN) -> TaskProgress | Refusal:
        """Counts by state (pending, submitted, delivered, failed, unknown, refused,
        cancelled), failures per code with what each means, parts accepted so far."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        counts, codes, parts = await self._store.task_counts(task.id)
        return TaskProgress(task, counts, codes, {c: explain(c, lang) for c in codes}, parts,
                            _waiting_until(task, self._clock.now()))

    async def rejected_rows(self, account: Account,
                            task_id: TaskId) -> list[RejectedRow] | Refusal:
        """The rows the import refused, in line order, each with its reason."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        return await self._store.task_rejects(task.id)

    async def results(self, account: Account, task_id: TaskId) -> list[ResultRow] | Refusal:
        """Every number of the task with the state of its message and its code."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        return await self._store.task_results(task.id)

    async def export_rejected(self, account: Account,
                              task_id: TaskId) -> AsyncIterator[str] | Refusal:
        """`rejected_rows` as CSV text (header first), read and written a page at a time."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        return self._rejected_pages(task.id)

    async def _rejected_pages(self, task_id: TaskId) -> AsyncIterator[str]:
        yield rejected_csv([])
        after = 0
        while page := await self._store.task_rejects(task_id, after, EXPORT_PAGE):
            yield rejected_csv(page, header=False)
            after = page[-1].line

    async def export_results(self, account: Account, task_id: TaskId,
                             states: Set[ProgressState] = frozenset()
                             ) -> AsyncIterator[str] | Refusal:
        """`results` as CSV text (header first), only the rows in `states` if any are
        given, read and written a page at a time."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        return self._result_pages(task.id, states)

    async def _result_pages(self, task_id: TaskId,
                            states: Set[ProgressState]) -> AsyncIterator[str]:
        yield results_csv([])
        after = -1
        while page := await self._store.task_results(task_id, after, EXPORT_PAGE):
            yield results_csv([r for r in page if not states or r.state in states],
                              header=False)
            after = page[-1].seq

    async def messages(self, account: Account, task_id: TaskId, offset: int = 0,
                       limit: int = 50) -> tuple[int, list[Message]] | Refusal:
        """The task's message records, in file order, one page with the total."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        return await self._store.task_messages(task.id, offset, limit)

    # Changing state

    async def schedule(self, account: Account, task_id: TaskId,
                       start_at: datetime) -> SendTask | Refusal:
        """Start by itself at `start_at` (a moment in the past starts at the engine's next
        round). A draft or scheduled task only."""
        if start_at.tzinfo is None:
            return Refusal("InvalidParameter", "the start time needs its time zone "
                           "(China time: +08:00)", "start_at")
        return await self._move(account, task_id, STARTABLE, TaskState.SCHEDULED, start_at)

    async def start(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        """Start now (a draft or scheduled task). A promotion outside promotion hours
        waits for 08:00 China time."""
        return await self._move(account, task_id, STARTABLE, TaskState.RUNNING)

    async def pause(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        """Stop feeding (a running or scheduled task); what was accepted goes on."""
        return await self._move(account, task_id, PAUSABLE, TaskState.PAUSED)

    async def resume(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        return await self._move(account, task_id, (TaskState.PAUSED,), TaskState.RUNNING)

    async def cancel(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        """Stop for good: the rows not yet submitted are never sent (the store marks them
        cancelled in the same transaction); what was submitted cannot be recalled and
        stays in the records."""
        return await self._move(account, task_id, CANCELLABLE, TaskState.CANCELLED)

    async def _move(self, account: Account, task_id: TaskId, allowed: Sequence[TaskState],
                    to: TaskState, start_at: datetime | None = None) -> SendTask | Refusal:
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        if task.state not in allowed or not await self._store.change_task_state(
                task.id, allowed, to, self._clock.now(), start_at):
            current = await self.task(account, task_id)
            state = current.state if isinstance(current, SendTask) else task.state
            return Refusal("isv.TASK_STATE_CONFLICT", f"task {task_id} is {state.value}")
        return await self.task(account, task_id)

    # Resending

    async def resend_failures(self, account: Account, task_id: TaskId) -> SendTask | Refusal:
        """A new draft task of the numbers whose failure a later send may cure
        (`records/resend.py`: `yes`): never the invalid, blacklisted or opted-out ones,
        nor those whose content or account must change first."""
        task = await self.task(account, task_id)
        if isinstance(task, Refusal):
            return task
        results = await self._store.task_results(task.id)
        rows = {r.seq: r for r in await self._store.task_rows(task.id)}
        again = [rows[r.seq] for r in results
                 if r.state in (ProgressState.FAILED, ProgressState.UNKNOWN,
                                ProgressState.REFUSED)
                 and verdict(r.error_code) is Resend.YES]
        if not again:
            return Refusal("isv.TASK_NOTHING_TO_RESEND", str(task_id))
        template = await self._usable(account.id, _spec_of(task))
        if isinstance(template, Refusal):
            return template
        imported = Imported(rows=[row._replace(seq=i) for i, row in enumerate(again)])
        return await self._store.create_task(
            account.id, _spec_of(task, f"{task.name} (resend)"), template, task.file_name,
            imported, self._clock.now(), source_task=task.id)


def explain(code: str, lang: Lang = Lang.EN) -> str:
    """What a failure code means: ours from the error registry, a carrier's from the code
    tables (its cause and what to do), else empty."""
    ours = REGISTRY.get(code)
    if ours is not None:
        return ours.text(lang).replace(' "{detail}"', "").replace("{detail}", "")
    info = codes.explain(code)
    return f"{info.cause}; {info.suggestion}" if info is not None else ""


def _waiting_until(task: SendTask, now: datetime) -> datetime | None:
    if task.state is TaskState.SCHEDULED:
        return task.start_at
    if (task.state is TaskState.RUNNING and task.template_type is TemplateType.PROMOTION
            and not within_promotion_hours(now)):
        return next_promotion_start(now)
    return None


def _spec_of(task: SendTask, name: str | None = None) -> TaskSpec:
    return TaskSpec(task.sign_name, task.template_code, task.name if name is None else name,
                    task.params, task.rate, task.out_id)


def _check_spec(spec: TaskSpec, variables: list[str], template: Template) -> Refusal | None:
    """What would refuse every chunk of the task, refused at once instead: a rate that is
    not positive, an OutId too long for a message, a value for all that the template's
    value rules refuse (a URL, a value too long)."""
    if spec.rate is not None and spec.rate <= 0:
        return Refusal("InvalidParameter", "the rate must be more than 0 messages/s", "rate")
    if len(spec.out_id) > 255:
        return Refusal("InvalidParameter", "OutId has more than 255 characters", "out_id")
    if spec.params and set(variables) <= set(spec.params):
        body = templates.render(template.content, spec.params)
        if isinstance(body, Refusal):
            return body
    return None


def _check_values(imported: Imported, template: Template, fixed: dict[str, str]) -> None:
    """Reject rows whose column values the template cannot take (a URL, a value too long):
    the API refuses such a request whole, so they are refused at import, row by row."""
    if not imported.columns:
        return
    kept: list[TaskRow] = []
    rejected = imported.rejected
    for row in imported.rows:
        body = templates.render(template.content, fixed | orjson.loads(row.params))
        if isinstance(body, Refusal):
            rejected.append(RejectedRow(row.line, row.phone, f"{body.code}: {body.detail}"))
        else:
            kept.append(row._replace(seq=len(kept)))
    rejected.sort()
    imported.rows = kept


def rejected_csv(rows: Sequence[RejectedRow], header: bool = True) -> str:
    """The rejected rows as a CSV file: line, value, reason."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(("line", "value", "reason"))
    writer.writerows(rows)
    return out.getvalue()


def results_csv(rows: Sequence[ResultRow], header: bool = True) -> str:
    """Every number with its outcome: line, phone, state, error code, reason, message id."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(("line", "phone", "state", "error_code", "reason", "biz_id",
                         "message_id"))
    for r in rows:
        writer.writerow((r.line, r.phone, r.state.value, r.error_code, r.reason, r.biz_id,
                         "" if r.message_id is None else r.message_id))
    return out.getvalue()
