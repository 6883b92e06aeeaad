"""`yizhan review queue`: everything waiting for an operator in one list, oldest first —
qualifications, signatures and templates under review, narrowed by kind, account, age and
count, with the review linter's findings of each template (docs/compliance.md "Operator
review of signatures and templates"). Each is decided with its own group's approve|reject."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    command_set,
    fail,
    run,
    settings_of,
    table,
)
from yizhan.domain.timezone import CHINA, china_day_bounds, china_text
from yizhan.policy import templates
from yizhan.policy.review import Kind, waiting
from yizhan.storage.store import SqlStore

review_commands = command_set()


def _since(text: str) -> datetime:
    """`--since`: a day (from its start) or a day and time, in China time."""
    try:
        if len(text) == 10:
            return china_day_bounds(date.fromisoformat(text))[0]
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--since {text!r}: write a day (2026-12-07) or a day and time "
                   "(2026-12-07 09:30), China time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def _findings(found: tuple[templates.Finding, ...] | None) -> list[str]:
    """The finding count and, for reading, each finding's rule (refusing ones marked !)."""
    if found is None:
        return ["", ""]
    return [str(len(found)), ", ".join(
        f.rule + ("!" if f.severity is templates.Severity.REFUSE else "") for f in found)]


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    return (f"{days}d " if days else "") + f"{minutes // 60}h{minutes % 60:02d}m"


@review_commands.command("queue")
def review_queue(
        kind: Annotated[Kind | None, typer.Option(help="Only this kind.")] = None,
        account: Annotated[str | None, typer.Option("--account", "-a",
                                                    help="Only this account's.")] = None,
        since: Annotated[str | None, typer.Option(
            help="Only items waiting since this day (2026-12-07) or moment "
                 "(2026-12-07 09:30), China time.")] = None,
        limit: Annotated[int | None, typer.Option(min=1, help="At most this many, the "
                                                        "oldest.")] = None,
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Everything waiting for an operator, oldest first: qualifications, signatures and
    templates under review, with each template's linter findings (rules marked ! refuse).
    Decide with `qualifications|signs|templates approve|reject`."""
    start = _since(since) if since else None

    async def work(store: SqlStore) -> None:
        names = {a.id: a.name for a in await store.list_accounts()}
        owner = (await account_named(store, account)).id if account else None
        now = clock.now()
        items = [w for w in await waiting(store, kind, owner)
                 if start is None or w.since >= start][:limit]
        table("Review queue", ["since", "age", "account", "kind", "id/code", "name",
                               "findings", "rules"],
              [[china_text(w.since), _age(w.since, now), names.get(w.account_id), w.kind,
                w.key, w.name, *_findings(w.findings)] for w in items])

    run(settings_of(data_dir, config, database_url), work)
