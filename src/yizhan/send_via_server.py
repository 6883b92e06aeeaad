"""`yizhan send` beside a running server: the send goes through that server's native API.

A server that accepts messages holds the data folder's lock (`runtime/server_lock.py`) and keeps the
frequency counters of what it accepts in its own memory (rate_backend = "sql"), so a send
accepted by the CLI directly would not count against them: two verification codes to one
number a second apart, one by the CLI and one by the API, would both go out. Sent through
the server instead, the CLI's send meets exactly the checks an API request meets.

The CLI authenticates as the account with one of its enabled AccessKeys, read from the store
the CLI can open anyway (the operator's right); the secret goes only to the local server and
is never printed. Consumes the CLI's arguments; answers the server's JSON, or a `Failure`
(the server's code and message, or why it could not be reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from yizhan.domain.model import AccessKey, KeyStatus
from yizhan.runtime.server_lock import Holder


@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


def usable_key(keys: list[AccessKey]) -> AccessKey | None:
    return next((k for k in keys if k.status is KeyStatus.ENABLED), None)


def send(server: Holder, key: AccessKey, body: dict[str, Any],
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
