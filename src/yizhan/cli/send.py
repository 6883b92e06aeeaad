"""`yizhan send`: send as an account. Beside a running `yizhan serve` on the same data
folder the send goes through that server's native API; otherwise the CLI accepts it itself,
through the intake the composition root builds for it (`app.operator_intake`), and the next
server to run delivers it.

Why through the server: a server that accepts messages holds the data folder's lock
(`runtime/server_lock.py`) and keeps the frequency counters of what it accepts in its own
memory (rate_backend = "sql"), so a send accepted by the CLI directly would not count against
them: two verification codes to one number a second apart, one by the CLI and one by the
API, would both go out. Sent through the server instead, the CLI's send meets exactly the
checks an API request meets.

The CLI authenticates as the account with one of its enabled AccessKeys, read from the store
the CLI can open anyway (the operator's right); the secret goes only to the local server and
is never printed. `post_to_server` answers the server's JSON, or a `Failure` (the server's
code and message, or why it could not be reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer

from yizhan.cli.common import (
    AccountName,
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    command_set,
    fail,
    out,
    run,
    settings_of,
    store_name,
    table,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccessKey, KeyStatus
from yizhan.policy import numbers
from yizhan.runtime import server_lock
from yizhan.runtime.server_lock import Holder
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

commands = command_set()
"""send (top level)."""


@commands.command()
def send(phone_numbers: Annotated[list[str], typer.Argument(help="Destination numbers.")],
         account: AccountName, sign: Annotated[str, typer.Option(help="Signature name.")],
         template: Annotated[str, typer.Option(help="Template code.")],
         param: Annotated[list[str] | None, typer.Option(
             help="Template variable as name=value; repeat for several.")] = None,
         out_id: Annotated[str, typer.Option(help="Your own reference.")] = "",
         data_dir: DataDir = None, config: ConfigFile = None,
         database_url: DatabaseUrl = None) -> None:
    """Send as an account. Beside a running `yizhan serve` on the same data folder the send
    goes through its API (so its frequency limits count it); otherwise it is stored here and
    the next server to run delivers it."""
    from yizhan.app import operator_intake
    from yizhan.intake.accept import SendRequest
    from yizhan.policy.chain import Recipient
    from yizhan.runtime.process_lease import LeaseRefused

    params = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--param {item!r}: write it as name=value")
        params[name] = value

    settings = settings_of(data_dir, config, database_url)
    server = server_lock.holder(settings.data_dir)
    if server is not None and server.store in ("", store_name(settings)):
        _send_through(server, settings, account, {
            "phone_numbers": phone_numbers, "sign_name": sign, "template_code": template,
            "template_param": params, "out_id": out_id})
        return

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        try:
            async with operator_intake(settings, store, clock) as intake:
                result = await intake.send(owner, SendRequest(
                    template, [Recipient(p, sign, params) for p in phone_numbers], out_id))
        except LeaseRefused as refused:  # a server elsewhere keeps this store's counters
            raise fail(str(refused)) from None
        if isinstance(result, Refusal):
            raise fail(f"{result.code}: {result.message()}")
        out.print(f"accepted, BizId {result.biz_id}", highlight=False)
        table("Messages", ["message id", "number", "parts", "status"],
              [[m.id, numbers.display(m.phone), m.segments, m.status.value]
               for m in result.messages])

    run(settings, work)


def _send_through(server: Holder, settings: Settings, account: str,
                  body: dict[str, Any]) -> None:
    """`send` through the running server's API (`post_to_server`)."""
    if not server.url:
        raise fail(f"a yizhan serve (pid {server.pid}) is starting on this data folder; "
                   "send again once it is running")

    async def key_of(store: SqlStore) -> AccessKey:
        owner = await account_named(store, account)
        key = usable_key(await store.list_access_keys(owner.id))
        if key is None:
            raise fail(f"account {owner.name} has no enabled AccessKey to send through the "
                       f"running server: `yizhan keys create --account {owner.name}`")
        return key

    result = post_to_server(server, run(settings, key_of), body)
    if isinstance(result, Failure):
        raise fail(f"{result.code}: {result.message}")
    out.print(f"accepted by the running server (pid {server.pid}, {server.url}), "
              f"BizId {result['biz_id']}", highlight=False, soft_wrap=True)
    table("Messages", ["message id", "number", "parts", "status"],
          [[m["message_id"], m["phone_number"], m["segments"], m["status"]]
           for m in result["messages"]])


# through the running server


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


def usable_key(keys: list[AccessKey]) -> AccessKey | None:
    return next((k for k in keys if k.status is KeyStatus.ENABLED), None)


def post_to_server(server: Holder, key: AccessKey, body: dict[str, Any],
                   timeout: float = 30.0) -> dict[str, Any] | Failure:
    """POST /v1/messages to the running server as `key`'s account."""
    # trust_env=False: the server is on this machine; a proxy from the environment must not
    # see the request (nor its AccessKey).
    try:
        with httpx.Client(base_url=server.url, auth=(key.id, key.secret), timeout=timeout,
                          trust_env=False) as client:
            answer = client.post("/v1/messages", json=body)
    except httpx.HTTPError as exc:
        return Failure("InternalError", f"the running server (pid {server.pid}, {server.url})"
                       f" did not answer: {exc}")
    try:
        data: dict[str, Any] = answer.json()
    except ValueError:
        return Failure("InternalError", f"the running server answered HTTP "
                       f"{answer.status_code} without JSON")
    if answer.status_code != 200:
        return Failure(str(data.get("code", "InternalError")), str(data.get("message", "")))
    return data
