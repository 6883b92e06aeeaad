"""The `yizhan tasks` commands (issue 17 point 7) as an operator runs them on the embedded
store: create from a file, list, show, pre-flight, schedule, start, pause, resume, cancel,
export and resend, tables and `--json` (parsed here), and `show --follow`'s progress bar.
The sending between the commands is the task engine's, run here one round at a time through
the operator's intake, as a server would run it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from yizhan.app import open_store, operator_intake
from yizhan.cli.main import app
from yizhan.domain.ports import SystemClock
from yizhan.settings import load_settings
from yizhan.tasks.engine import TaskEngine

runner = CliRunner()
NOTICE = ("phone,order\n13800138000,A1\n13800138001,A2\n13800138000,A3\n12345,A4\n"
          "13800138002,A5\n")


def yz(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def js(data_dir: Path, *args: str) -> Any:
    code, output = yz(data_dir, *args, "--json")
    assert code == 0, output
    return json.loads(output)


def feed(data_dir: Path) -> int:
    """One round of the task engine, as `yizhan serve` runs it."""
    async def main() -> int:
        settings = load_settings(data_dir=data_dir)
        store = open_store(settings)
        await store.migrate()
        try:
            async with operator_intake(settings, store, SystemClock()) as intake:
                engine = TaskEngine(store, intake, SystemClock(), chunk=2, outbox_bound=1000)
                return await engine.run_once()
        finally:
            await store.close()

    return asyncio.run(main())


def test_a_campaign_from_file_to_results(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    sign, template = info["sign_name"], info["templates"]["notification"]
    numbers = tmp_path / "december.csv"
    numbers.write_text(NOTICE, encoding="utf-8")
    create = ("tasks", "create", str(numbers), "--account", "demo", "--sign", sign,
              "--template", template)

    code, output = yz(tmp_path, *create)
    assert code == 0, output
    assert "december" in output and "draft" in output
    assert "2 row(s) rejected" in output
    task = js(tmp_path, *create, "--name", "December", "--rate", "20")
    task_id = task["task_id"]
    assert (task["name"], task["state"], task["numbers"], task["rejected"], task["rate"]) == (
        "December", "draft", 3, 2, 20.0)
    listed = js(tmp_path, "tasks", "list", "--account", "demo")
    assert [t["task_id"] for t in listed] == [task_id, str(int(task_id) - 1)]
    code, output = yz(tmp_path, "tasks", "list", "--account", "demo")
    assert code == 0 and "December" in output and "draft" in output

    report = js(tmp_path, "tasks", "preflight", task_id, "--account", "demo")
    assert (report["numbers"], report["invalid"], report["duplicates"],
            report["sendable"]) == (3, 1, 1, 3)
    assert report["carriers"] == {"china_mobile": 3} and report["seconds"] == 0.1
    code, output = yz(tmp_path, "tasks", "preflight", task_id, "--account", "demo")
    assert code == 0 and "sendable" in output and "china_mobile" in output

    scheduled = js(tmp_path, "tasks", "schedule", task_id, "--account", "demo",
                   "--at", "2030-01-02T09:00")
    assert scheduled["state"] == "scheduled"
    assert scheduled["start_at"] == "2030-01-02T09:00:00+08:00"  # China time by default
    later = js(tmp_path, "tasks", "preflight", task_id, "--account", "demo")
    assert later["at"] == "2030-01-02T09:00:00+08:00"
    assert feed(tmp_path) == 0  # not due yet
    shown = js(tmp_path, "tasks", "show", task_id, "--account", "demo")
    assert shown["progress"]["waiting_until"] == "2030-01-02T09:00:00+08:00"
    code, output = yz(tmp_path, "tasks", "show", task_id, "--account", "demo")
    assert code == 0 and "waiting until 2030-01-02 09:00:00" in output

    assert js(tmp_path, "tasks", "start", task_id, "--account", "demo")["state"] == "running"
    assert feed(tmp_path) == 2
    shown = js(tmp_path, "tasks", "show", task_id, "--account", "demo")
    assert shown["task"]["state"] == "running"
    assert {k: v for k, v in shown["progress"]["counts"].items() if v} == {
        "submitted": 2, "pending": 1}
    assert js(tmp_path, "tasks", "pause", task_id, "--account", "demo")["state"] == "paused"
    assert feed(tmp_path) == 0
    code, output = yz(tmp_path, "tasks", "pause", task_id, "--account", "demo")
    assert code == 1 and "isv.TASK_STATE_CONFLICT" in output and "paused" in output

    # Following a task that does not end: the bar is drawn, the looks are bounded.
    code, output = yz(tmp_path, "tasks", "show", task_id, "--account", "demo", "--follow",
                      "--polls", "2", "--interval", "0")
    assert code == 0 and "2/3" in output and "still going" in output
    assert js(tmp_path, "tasks", "resume", task_id, "--account", "demo")["state"] == "running"
    assert js(tmp_path, "tasks", "cancel", task_id, "--account", "demo")["state"] == "cancelled"
    code, output = yz(tmp_path, "tasks", "show", task_id, "--account", "demo", "--follow")
    assert code == 0 and "3/3" in output and f"task {task_id} is cancelled" in output
    code, output = yz(tmp_path, "tasks", "show", task_id, "--account", "demo")
    assert code == 0 and "cancelled" in output and "submitted" in output

    code, output = yz(tmp_path, "tasks", "export", task_id, "--account", "demo", "--rejected")
    assert code == 0 and output.splitlines() == [
        "line,value,reason", "4,13800138000,duplicate of line 2", "5,12345,invalid number"]
    code, output = yz(tmp_path, "tasks", "export", task_id, "--account", "demo")
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [(r["line"], r["state"]) for r in rows] == [
        ("2", "submitted"), ("3", "submitted"), ("6", "cancelled")]
    target = tmp_path / "cancelled.csv"
    code, output = yz(tmp_path, "tasks", "export", task_id, "--account", "demo",
                      "--states", "cancelled", "-o", str(target))
    assert code == 0 and "wrote 1 row(s)" in output
    assert target.read_text(encoding="utf-8").splitlines()[1].startswith("6,+8613800138002,")
    code, output = yz(tmp_path, "tasks", "export", task_id, "--account", "demo",
                      "--states", "lost")
    assert code == 1 and "--states" in output

    code, output = yz(tmp_path, "tasks", "resend", task_id, "--account", "demo")
    assert code == 1 and "isv.TASK_NOTHING_TO_RESEND" in output


def test_refusals_end_the_command_with_their_code(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    sign, template = info["sign_name"], info["templates"]["notification"]
    numbers = tmp_path / "n.csv"
    numbers.write_text("13800138000\n", encoding="utf-8")
    create = ("tasks", "create", str(numbers), "--account", "demo", "--sign", sign,
              "--template", template)
    code, output = yz(tmp_path, *create)
    assert code == 1 and "isv.TASK_MISSING_VARIABLE" in output
    task = js(tmp_path, *create, "--param", "order=A1")
    assert task["params"] == {"order": "A1"}
    code, output = yz(tmp_path, *create, "--param", "order")
    assert code == 1 and "NAME=VALUE" in output
    code, output = yz(tmp_path, "accounts", "create", "other")
    assert code == 0, output
    code, output = yz(tmp_path, "tasks", "show", task["task_id"], "--account", "other")
    assert code == 1 and "isv.TASK_NOT_FOUND" in output
    code, output = yz(tmp_path, "tasks", "schedule", task["task_id"], "--account", "demo",
                      "--at", "tomorrow")
    assert code == 1 and "China time" in output
