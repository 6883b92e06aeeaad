"""`yizhan review queue`: everything waiting for an operator in one list, oldest first —
qualifications, signatures and templates under review (docs/compliance.md "Operator
review"). Each is decided with its own group's approve|reject."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    clock,
    command_set,
    run,
    settings_of,
    table,
)
from yizhan.domain.model import AccountId, ReviewState
from yizhan.domain.timezone import china_text
from yizhan.policy import templates
from yizhan.storage.store import SqlStore

review_commands = command_set()


@dataclass(frozen=True, slots=True)
class Waiting:
    """One item of the review queue: what to decide and since when."""

    since: datetime
    account_id: AccountId
    kind: str
    key: str  # the id or code the approve|reject command takes
    name: str
    findings: int | None = None  # the review linter's findings (templates only)


async def waiting(store: SqlStore) -> list[Waiting]:
    """Everything under review, oldest first."""
    pending = ReviewState.PENDING
    items = [Waiting(q.created_at, q.account_id, "qualification", str(q.id), q.details.name)
             for q in await store.list_qualifications(state=pending)]
    items += [Waiting(s.created_at, s.account_id, "signature", str(s.id), s.name)
              for s in await store.list_signatures() if s.state is pending]
    items += [Waiting(t.created_at, t.account_id, "template", t.code, t.name,
                      len(templates.lint(t.type, t.content)))
              for t in await store.list_templates() if t.state is pending]
    return sorted(items, key=lambda w: (w.since, w.kind, w.key))


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    return (f"{days}d " if days else "") + f"{minutes // 60}h{minutes % 60:02d}m"


@review_commands.command("queue")
def review_queue(data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Everything waiting for an operator, oldest first: qualifications, signatures and
    templates under review (decide with `qualifications|signs|templates approve|reject`)."""
    async def work(store: SqlStore) -> None:
        names = {a.id: a.name for a in await store.list_accounts()}
        now = clock.now()
        table("Review queue", ["since", "age", "account", "kind", "id/code", "name",
                               "findings"],
              [[china_text(w.since), _age(w.since, now), names.get(w.account_id), w.kind,
                w.key, w.name, "" if w.findings is None else w.findings]
               for w in await waiting(store)])

    run(settings_of(data_dir, config, database_url), work)
