"""Send tasks (群发助手) in the `yizhan` CLI, for the operator (docs/tasks.md "CLI"):

    yizhan tasks create FILE -a ACCOUNT --sign S --template T [--param NAME=VALUE] [--rate R]
    yizhan tasks list -a ACCOUNT
    yizhan tasks show ID -a ACCOUNT [--follow]        (--follow: a progress bar to the end)
    yizhan tasks preflight ID -a ACCOUNT [--at TIME]
    yizhan tasks schedule ID -a ACCOUNT --at TIME     (TIME without a zone: China time)
    yizhan tasks start|pause|resume|cancel ID -a ACCOUNT
    yizhan tasks export ID -a ACCOUNT [--states failed,unknown,refused] [--rejected] [-o F]
    yizhan tasks resend ID -a ACCOUNT

Every command calls the service the REST API calls (`tasks/service.py`, built by
`app.operator_tasks`) and prints a table, or with `--json` the REST API's JSON of the task,
report or progress (`tasks/views.py`). The commands change states in the store; the
sending is done by the engine of a running server (`yizhan serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from yizhan.cli.common import (
    AccountName,
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    command_set,
    err,
    fail,
    out,
    run,
    settings_of,
    table,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account
from yizhan.domain.tasks import ProgressState, SendTask, TaskId, TaskProgress, TaskSpec
from yizhan.domain.timezone import CHINA, china_text
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore
from yizhan.tasks.service import TaskService
from yizhan.tasks.views import preflight_json, progress_json, task_json

T = TypeVar("T")

tasks_commands = command_set()

Json = Annotated[bool, typer.Option("--json", help="Print JSON (the REST API's shape).")]
TaskArg = Annotated[int, typer.Argument(help="The task id (`yizhan tasks list`).", min=1)]


def _work(settings: Settings, account: str,
          work: Callable[[TaskService, Account], Awaitable[T]]) -> T:
    """Run `work` with the send tasks' service and the account named `account`."""
    from yizhan.app import operator_tasks

    async def main(store: SqlStore) -> T:
        owner = await account_named(store, account)
        async with operator_tasks(settings, store, clock) as service:
            return await work(service, owner)

    return run(settings, main)


def _done(result: T | Refusal) -> T:
    if isinstance(result, Refusal):
        raise fail(f"{result.code}: {result.message()}")
    return result


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _show_task(task: SendTask, as_json: bool) -> None:
    if as_json:
        _print_json(task_json(task))
        return
    _task_table([task], f"Task {task.id}")


def _task_table(tasks: list[SendTask], title: str) -> None:
    table(title, ["id", "name", "state", "sign", "template", "numbers", "rejected", "rate",
                  "start_at", "created_at"],
          [[t.id, t.name, t.state.value, t.sign_name, t.template_code, t.total, t.rejected,
            t.rate or "", china_text(t.start_at), china_text(t.created_at)] for t in tasks])
    for t in tasks:
        if t.last_error:
            out.print(f"task {t.id} paused by the engine: {t.last_error}", highlight=False)


def _china_time(text: str) -> datetime:
    """ISO 8601; without a zone, China time."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r}: a time as 2026-12-08T09:00 (China time) or with its zone "
                   "(+08:00)") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=CHINA)


# Creating


class _Reading:
    """The file as the import reads it, advancing a progress bar by the bytes read."""

    def __init__(self, raw: IO[bytes], progress: Progress | None, bar: Any) -> None:
        self._raw, self._progress, self._bar = raw, progress, bar

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._progress is not None:
            self._progress.advance(self._bar, len(data))
        return data

    def __getattr__(self, name: str) -> Any:  # seek, tell, ...: the file's own
        return getattr(self._raw, name)


def _params(given: list[str]) -> dict[str, str]:
    params = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise fail(f"--param {item!r}: NAME=VALUE")
        params[name] = value
    return params


@tasks_commands.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The numbers: .csv, .txt or .xlsx.",
                                         exists=True, dir_okay=False, readable=True)],
    account: AccountName,
    sign: Annotated[str, typer.Option("--sign", help="An approved signature.")],
    template: Annotated[str, typer.Option("--template", help="An approved template code.")],
    name: Annotated[str, typer.Option("--name", help="The task's name.")] = "",
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="NAME=VALUE: one value for every number (repeatable); a variable "
        "not given is read from the file's column of its name.")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="Messages per second at "
                                               "most.")] = None,
    out_id: Annotated[str, typer.Option("--out-id", help="OutId of every message "
                                        "[default: task-<id>].")] = "",
    as_json: Json = False,
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
) -> None:
    """Import a number file as a draft task (rows checked, nothing sent)."""
    spec = TaskSpec(sign, template, name or file.stem, _params(param or []), rate, out_id)

    async def work(service: TaskService, owner: Account) -> SendTask | Refusal:
        with file.open("rb") as raw, Progress(
                TextColumn("importing {task.description}"), BarColumn(), DownloadColumn(),
                TimeElapsedColumn(), console=err, disable=as_json) as progress:
            bar = progress.add_task(file.name, total=file.stat().st_size)
            stream = _Reading(raw, progress, bar)
            return await service.create(owner, spec, stream,  # type: ignore[arg-type]
                                        file.name)

    task = _done(_work(settings_of(data_dir, config, database_url), account, work))
    _show_task(task, as_json)
    if not as_json and task.rejected:
        out.print(f"{task.rejected} row(s) rejected: `yizhan tasks export {task.id} "
                  f"--rejected` lists them", highlight=False)


# Reading


@tasks_commands.command("list")
def list_tasks(account: AccountName, limit: Annotated[int, typer.Option(min=1)] = 100,
               as_json: Json = False, data_dir: DataDir = None, config: ConfigFile = None,
               database_url: DatabaseUrl = None) -> None:
    """The account's tasks, newest first."""
    async def work(service: TaskService, owner: Account) -> list[SendTask]:
        return await service.tasks(owner, limit)

    found = _work(settings_of(data_dir, config, database_url), account, work)
    if as_json:
        _print_json([task_json(t) for t in found])
    else:
        _task_table(found, f"Send tasks of {account}")


@tasks_commands.command("show")
def show(
    task_id: TaskArg, account: AccountName, as_json: Json = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="A progress bar, updated until the task ends (or Ctrl-C).")] = False,
    interval: Annotated[float, typer.Option(
        help="Seconds between two looks with --follow.", min=0, max=60)] = 1.0,
    polls: Annotated[int, typer.Option(
        help="With --follow: stop after this many looks (0: when the task ends).",
        min=0)] = 0,
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
) -> None:
    """A task and its progress: counts by state, failures with what they mean."""
    settings = settings_of(data_dir, config, database_url)
    if follow:
        _follow(settings, account, TaskId(task_id), interval, polls)
        return

    async def work(service: TaskService, owner: Account) -> TaskProgress | Refusal:
        return await service.progress(owner, TaskId(task_id))

    progress = _done(_work(settings, account, work))
    if as_json:
        _print_json({"task": task_json(progress.task), "progress": progress_json(progress)})
        return
    _task_table([progress.task], f"Task {task_id}")
    if progress.waiting_until is not None:
        out.print(f"waiting until {china_text(progress.waiting_until)} (China time)",
                  highlight=False)
    _progress_tables(progress)


def _progress_tables(progress: TaskProgress) -> None:
    table("Numbers by state", [s.value for s in ProgressState],
          [[progress.counts.get(s, 0) for s in ProgressState]])
    if progress.failure_codes:
        table("Failures", ["code", "numbers", "reason"],
              [[f["code"], f["numbers"], f["explanation"]]
               for f in progress_json(progress)["failures"]])


def _follow(settings: Settings, account: str, task_id: TaskId, interval: float,
            polls: int) -> None:
    """A Rich progress bar of the numbers handed over (no longer pending), with the counts
    by state, looked at every `interval` seconds until the task ends, `polls` looks were
    made, or Ctrl-C."""
    async def work(service: TaskService, owner: Account) -> TaskProgress | Refusal:
        with Progress(TextColumn("task {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                      TimeElapsedColumn(), console=out) as shown:
            bar = shown.add_task(str(task_id), total=None, counts="")
            looked = 0
            while True:
                progress = await service.progress(owner, task_id)
                if isinstance(progress, Refusal):
                    return progress
                looked += 1
                counts = ", ".join(f"{s.value} {n}" for s, n in progress.counts.items() if n)
                left = progress.counts.get(ProgressState.PENDING, 0)
                shown.update(bar, total=progress.task.total,
                             completed=progress.task.total - left,
                             counts=f"{progress.task.state.value}: {counts}")
                if progress.task.state.final or looked == polls:
                    return progress
                await asyncio.sleep(interval)

    try:
        progress = _done(_work(settings, account, work))
    except KeyboardInterrupt:
        out.print("stopped following; the task goes on", highlight=False)
        return
    state = progress.task.state
    out.print(f"task {task_id} is {state.value}" + ("" if state.final else
                                                     " (still going)"), highlight=False)


@tasks_commands.command("preflight")
def preflight(task_id: TaskArg, account: AccountName, at: Annotated[str | None, typer.Option(
        "--at", help="The planned start (China time unless a zone is given) "
        "[default: the scheduled start, else now].")] = None,
              as_json: Json = False, data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """What the task would do, before anything is sent (nothing counted, nothing sent)."""
    when = _china_time(at) if at else None

    async def work(service: TaskService, owner: Account) -> Any:
        return await service.preflight(owner, TaskId(task_id), when)

    report = preflight_json(_done(_work(settings_of(data_dir, config, database_url),
                                        account, work)))
    if as_json:
        _print_json(report)
        return
    table(f"Pre-flight report of task {task_id}", ["figure", "value"],
          [[name, json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list)
            else value] for name, value in report.items() if name != "task_id"])


# Changing state


def _act(action: str, task_id: int, account: str, as_json: bool, settings: Settings,
         start_at: datetime | None = None) -> None:
    async def work(service: TaskService, owner: Account) -> SendTask | Refusal:
        if action == "schedule":
            assert start_at is not None
            return await service.schedule(owner, TaskId(task_id), start_at)
        acts = {"start": service.start, "pause": service.pause, "resume": service.resume,
                "cancel": service.cancel, "resend": service.resend_failures}
        return await acts[action](owner, TaskId(task_id))

    _show_task(_done(_work(settings, account, work)), as_json)


@tasks_commands.command("schedule")
def schedule(task_id: TaskArg, account: AccountName, at: Annotated[str, typer.Option(
        "--at", help="When it starts by itself: 2026-12-08T09:00 (China time) or with a "
        "zone.")], as_json: Json = False, data_dir: DataDir = None,
             config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Start the task by itself at a time (a draft or scheduled task)."""
    _act("schedule", task_id, account, as_json, settings_of(data_dir, config, database_url),
         _china_time(at))


def _state_command(action: str, doc: str) -> None:
    """`yizhan tasks ACTION ID -a ACCOUNT [--json]`: one service action on one task."""
    def command(task_id: TaskArg, account: AccountName, as_json: Json = False,
                data_dir: DataDir = None, config: ConfigFile = None,
                database_url: DatabaseUrl = None) -> None:
        _act(action, task_id, account, as_json, settings_of(data_dir, config, database_url))

    command.__doc__ = doc
    tasks_commands.command(action)(command)


for _action, _doc in (
        ("start", "Start now (a running server's engine sends it)."),
        ("pause", "Stop feeding numbers; what was accepted goes on."),
        ("resume", "Go on where a paused task stood."),
        ("cancel", "Stop for good: numbers not yet submitted are never sent."),
        ("resend", "A new draft task of the failures a resend may cure (never invalid, "
                   "blacklisted or opted-out numbers).")):
    _state_command(_action, _doc)


@tasks_commands.command("export")
def export(task_id: TaskArg, account: AccountName,
           states: Annotated[str | None, typer.Option(
               "--states", help="Only these states, comma-separated "
               "(failed,unknown,refused: the failures).")] = None,
           rejected: Annotated[bool, typer.Option(
               "--rejected", help="The rows the import refused instead.")] = False,
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", help="Write the CSV to this file [default: stdout].",
               dir_okay=False)] = None,
           data_dir: DataDir = None, config: ConfigFile = None,
           database_url: DatabaseUrl = None) -> None:
    """Every number with its outcome as CSV (or the rejected rows)."""
    known = {s.value: s for s in ProgressState}
    wanted = {s.strip() for s in (states or "").split(",") if s.strip()}
    if wanted - set(known):
        raise fail(f"--states: some of {', '.join(known)}")

    async def work(service: TaskService, owner: Account) -> int | Refusal:
        """Write the export a page at a time; how many rows it had."""
        pages = (await service.export_rejected(owner, TaskId(task_id)) if rejected else
                 await service.export_results(owner, TaskId(task_id),
                                              {known[n] for n in wanted}))
        if isinstance(pages, Refusal):
            return pages
        lines = 0
        with (contextlib.nullcontext(sys.stdout) if output is None
              else output.open("w", encoding="utf-8", newline="")) as sink:
            async for text in pages:
                sink.write(text)
                lines += text.count("\n")
        return lines - 1

    rows = _done(_work(settings_of(data_dir, config, database_url), account, work))
    if output is not None:
        out.print(f"wrote {rows} row(s) to {output}", highlight=False)
