"""The send tasks as the surfaces show them: one JSON shape for the REST API (`/v1/tasks`)
and the CLI's `--json` (docs/tasks.md "REST" and "CLI"), so a script reads the same fields
from either. Times are ISO 8601 in China time (+08:00); money in yuan; nothing decided here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yizhan.domain.tasks import ProgressState, SendTask, TaskProgress
from yizhan.domain.timezone import CHINA
from yizhan.policy import balance
from yizhan.tasks.preflight import Preflight

FINAL_PROGRESS = (ProgressState.DELIVERED, ProgressState.FAILED, ProgressState.UNKNOWN,
                  ProgressState.REFUSED, ProgressState.CANCELLED)
"""The numbers whose outcome is known: what a progress bar counts as done."""


def china(at: datetime | None) -> str | None:
    return at.astimezone(CHINA).isoformat() if at is not None else None


def task_json(task: SendTask) -> dict[str, Any]:
    return {
        "task_id": str(task.id), "name": task.name, "state": task.state.value,
        "sign_name": task.sign_name, "template_code": task.template_code,
        "template_type": task.template_type.value, "file_name": task.file_name,
        "numbers": task.total, "rejected": task.rejected, "duplicates": task.duplicates,
        "params": task.params, "rate": task.rate, "out_id": task.out_id,
        "created_at": china(task.created_at), "start_at": china(task.start_at),
        "started_at": china(task.started_at), "finished_at": china(task.finished_at),
        "source_task_id": str(task.source_task) if task.source_task is not None else None,
        "last_error": task.last_error,
    }


def preflight_json(report: Preflight) -> dict[str, Any]:
    return {
        "task_id": str(report.task_id), "at": china(report.at), "numbers": report.numbers,
        "invalid": report.invalid, "duplicates": report.duplicates,
        "blacklisted": report.blacklisted, "opted_out": report.opted_out,
        "frequency_refused": report.frequency_refused, "sendable": report.sendable,
        "carriers": report.carriers, "countries": report.countries,
        "promotion": report.promotion, "within_hours": report.within_hours,
        "next_start": china(report.next_start),
        "parts_per_message": list(report.parts_per_message), "parts": report.parts,
        "part_price": balance.money(report.part_price), "cost": balance.money(report.cost),
        "package_parts": report.package_parts, "balance": balance.money(report.balance),
        "covered": report.covered, "rate": report.rate,
        "seconds": (round(report.seconds, 1) if report.seconds is not None
                             else None),
    }


def done(progress: TaskProgress) -> int:
    """Numbers whose outcome is known (delivered, failed, unknown, refused, cancelled)."""
    return sum(progress.counts.get(state, 0) for state in FINAL_PROGRESS)


def progress_json(progress: TaskProgress) -> dict[str, Any]:
    return {
        "task_id": str(progress.task.id), "state": progress.task.state.value,
        "numbers": progress.task.total,
        "counts": {state.value: progress.counts.get(state, 0) for state in ProgressState},
        "done": done(progress), "parts": progress.parts,
        "waiting_until": china(progress.waiting_until),
        "failures": [{"code": code, "numbers": count,
                      "explanation": progress.explanations.get(code, "")}
                     for code, count in sorted(progress.failure_codes.items(),
                                               key=lambda item: (-item[1], item[0]))],
    }
