"""Send tasks (群发助手): the records of a campaign run from an imported file.

A task is created from a file (`tasks/importing.py`): each accepted row is one number with its
template values, kept in the task's rows (`TaskRow`); each refused row is kept with its line
number and reason (`RejectedRow`). The task then waits (`DRAFT`) until the tenant starts it or
schedules it (`SCHEDULED`, at `start_at`); the engine (`tasks/engine.py`) feeds its rows in
chunks through intake (`RUNNING`), pausing promotions outside promotion hours, until none is
left (`FINISHED`). The tenant may `PAUSED` and resume it, or cancel it (`CANCELLED`: the rows
not yet submitted are never sent). A row moves once: `PENDING` -> `SUBMITTED` (its message
was accepted, in the same transaction: `TaskChunk`) or `REFUSED` (accepted as a failed record
carrying the policy code) or `CANCELLED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, NewType

from yizhan.domain.model import AccountId, MessageId, PhoneNumber, TemplateType

TaskId = NewType("TaskId", int)


class TaskState(StrEnum):
    IMPORTING = "importing"
    """Its rows are being written; never run (a crash leaves it to be deleted)."""
    DRAFT = "draft"
    """Imported: the pre-flight report can be read; nothing is sent until started."""
    SCHEDULED = "scheduled"
    """Starts by itself at `start_at`."""
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"

    @property
    def final(self) -> bool:
        return self in (TaskState.CANCELLED, TaskState.FINISHED)


class RowState(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    """Accepted through intake: its message is queued for dispatch (or already sent)."""
    REFUSED = "refused"
    """Accepted as a failed record: the policy chain refused the number (its code)."""
    CANCELLED = "cancelled"


class ProgressState(StrEnum):
    """What the tenant sees of each number of a task (`TaskProgress.counts`)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REFUSED = "refused"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What the tenant gives with the file."""

    sign_name: str
    template_code: str
    name: str = ""
    params: dict[str, str] = field(default_factory=dict)
    """One value for every number, per template variable; a variable not given here is read
    from the file's column of that name."""
    rate: float | None = None
    """Messages per second at most (None: as fast as the outbox bound allows)."""
    out_id: str = ""
    """The OutId every message of the task carries (default: `task-<id>`)."""


@dataclass(frozen=True, slots=True)
class SendTask:
    id: TaskId
    account_id: AccountId
    name: str
    sign_name: str
    template_code: str
    template_type: TemplateType
    state: TaskState
    created_at: datetime
    file_name: str
    total: int
    """Numbers accepted from the file (after duplicates were removed)."""
    rejected: int
    """Rows of the file refused at import (duplicates included)."""
    duplicates: int
    params: dict[str, str]
    rate: float | None
    out_id: str
    start_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    source_task: TaskId | None = None
    """The task whose retryable failures this one resends."""
    last_error: str = ""
    """Why the engine paused the task (a request-level refusal: code and detail)."""


class TaskRow(NamedTuple):
    seq: int
    """The row's place in the task (0-based, in file order)."""
    line: int
    """Its line in the file (1-based; the header is line 1)."""
    phone: PhoneNumber
    params: str
    """Its template values as JSON, only those read from columns ('' if none)."""


class RejectedRow(NamedTuple):
    line: int
    value: str
    """The number cell as read (cut to 64 characters)."""
    reason: str


@dataclass
class Imported:
    """The outcome of reading a file (`tasks/importing.py`): rows to send, rows refused,
    and counts; what the store writes for a new task."""

    rows: list[TaskRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    duplicates: int = 0
    columns: tuple[str, ...] = ()
    """The variables read from columns (by header name)."""


@dataclass(frozen=True, slots=True, eq=False)
class TaskChunk:
    """Rows of a task accepted through intake, written in the transaction that commits their
    messages (`storage/messages.py`): a row is marked with its message id only while it is
    still pending and its task running, and a message is written only for a row so marked.
    So a row is sent at most once, across crashes and concurrent cancels."""

    task_id: TaskId
    seqs: Sequence[int]
    message_ids: Sequence[MessageId]
    refused: Sequence[bool]
    """Per row: its message is a failed record of a policy refusal."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One number of a task with the outcome of its message (`export_results`)."""

    seq: int
    line: int
    phone: PhoneNumber
    state: ProgressState
    error_code: str
    reason: str
    message_id: MessageId | None
    biz_id: str


@dataclass(frozen=True, slots=True)
class TaskProgress:
    task: SendTask
    counts: dict[ProgressState, int]
    failure_codes: dict[str, int]
    """Failed and refused numbers per error code."""
    explanations: dict[str, str]
    """Per failure code, what it means and what to do (docs/errors.md: our codes from the
    registry, the carriers' from the code tables)."""
    parts: int
    """Parts of the messages accepted so far."""
    waiting_until: datetime | None = None
    """When a task that waits begins to send: its start time (scheduled), or 08:00 China
    time (a running promotion outside promotion hours)."""
