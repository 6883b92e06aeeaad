"""The API call log's writer: every call of either API, refused ones included, written in
batches off the request's path (docs/diagnosis.md "The API call log").

The two ways in each hand over one `Seen` per request once its answer is known: the
Alibaba-compatible endpoint (`aliyun/endpoint.py` `handle_safely`, and the size limits'
refusals in `app.py`) and the native REST API (`app.py` `FastPaths.rest`, `RestWatch`).
`note` only appends a tuple of the strings the request decoded anyway (`Noted`) to a list;
every `interval` seconds the writer's loop takes the list, turns it into `ApiCall` records
(numbers split, normalized and bounded, the account of a refused call's AccessKey looked up)
and writes them in one background transaction (`storage/calls.py`). A SendSms so pays well
under a microsecond on its path; the rest happens hundreds of calls at a time
(docs/benchmarks.md "The API call log"). Nobody waits for a write, so a plain list does
(not a group commit's queue of entries with their futures: `runtime/batching.py`).

At most `max_pending` calls wait; past that (a store that cannot keep up) calls are dropped
and counted, not queued without bound. Secrets never enter a call: not the AccessKey secret,
not the request's signature, not the Authorization header.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson

from yizhan.domain.calls import NUMBER_CHARS, NUMBERS_KEPT, ApiCall
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator, unix_ms
from yizhan.domain.model import AccessKey, Account, AccountId
from yizhan.domain.ports import Clock
from yizhan.policy import numbers
from yizhan.runtime.periodic import Periodic

log = logging.getLogger("yizhan.api.calls")
ACS3_KEY = re.compile(r"Credential=([^,\s]{1,64})")


class CallStore(Protocol):
    async def add_calls(self, calls: Sequence[ApiCall]) -> None: ...


KeyLookup = Callable[[str], Awaitable[tuple[AccessKey | None, Account | None]]]


class Seen:
    """What a request showed while it was handled, filled in as it goes (no copies: the
    parameters' dict is kept as the endpoint decoded it)."""

    __slots__ = ("account_id", "action", "body", "headers", "key_id", "params")

    def __init__(self) -> None:
        self.action = ""
        self.params: Mapping[str, str] | None = None
        """The decoded parameters of an RPC call, or a REST call's query parameters."""
        self.body = b""
        """A REST send's JSON body."""
        self.headers: Mapping[str, str] | None = None
        """An RPC call's signed headers (the ACS3 Authorization names the AccessKey)."""
        self.key_id = ""
        self.account_id: AccountId | None = None


Noted = tuple[float, str, str, AccountId | None, str, int, str, str, int, str, str,
              str | None, str, str]
"""(when: the clock's monotonic time, action, key id, account, numbers (the first
`NUMBERS_KEPT`, comma-separated, as given), how many numbers, signature, template, HTTP
status, code, request id, BizId, client address, a refusal's message): strings and numbers
only, so that a
queued call holds nothing the garbage collector must walk (holding each request's decoded
parameters until the write would carry them into the collector's older generations)."""
WRITE_BATCH = 10_000
"""Most calls written in one transaction."""
PREFIX_CHARS = NUMBERS_KEPT * (NUMBER_CHARS + 2)
"""Of a long list of numbers, only this much text is kept until the write: enough for the
first `NUMBERS_KEPT` numbers."""


class CallLog:
    def __init__(self, store: CallStore, clock: Clock, keys: KeyLookup, *,
                 interval: float = 0.5, max_pending: int = 100_000) -> None:
        """`clock` gives each call its time; the writes are paced in real time (`interval`),
        as `runtime/periodic.py` loops are: a test on a driven clock need not drive them."""
        self._store = store
        self._clock = clock
        self._keys = keys
        self._ids = IdGenerator()
        self._max_pending = max_pending
        self._pending: list[Noted] = []
        self._closed = False
        self._writer = Periodic("call log", self.write, interval, log)
        self.dropped = 0
        """Calls not logged because `max_pending` were waiting."""

    async def start(self) -> None:
        self._closed = False
        await self._writer.start()

    async def stop(self) -> None:
        """Write what waits, then stop; a call answered from now on is not logged."""
        self._closed = True
        await self._writer.stop()
        await self.write()  # what came after the loop's last round

    def pending(self) -> int:
        """How many calls wait for the next write."""
        return len(self._pending)

    async def write(self) -> None:
        """Write the calls that wait, up to `WRITE_BATCH` per transaction. A write that
        fails is logged and its calls are lost (a diagnosis aid, not an audit trail)."""
        waiting, self._pending = self._pending, []
        for start in range(0, len(waiting), WRITE_BATCH):
            try:
                await self._flush(waiting[start:start + WRITE_BATCH])
            except Exception:
                log.exception("the call log lost %d call(s): their write failed",
                              len(waiting[start:start + WRITE_BATCH]))

    def note(self, seen: Seen, status: int, code: str, request_id: str,
             biz_id: str | None, client: Any, message: str = "") -> None:
        """Queue one answered call (`client`: the ASGI scope's client, (host, port);
        `message`: a refusal's message as its caller got it)."""
        if self._closed:  # stopping: an answer is never failed for its log
            self.dropped += 1
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("the call log is behind: %d call(s) not logged", self.dropped)
            return
        key_id = seen.key_id or _key_id(seen.params or {}, seen.headers)
        phones, count, sign, template = named(seen)
        self._pending.append((self._clock.monotonic(), seen.action, key_id, seen.account_id,
                              phones, count, sign, template, status, code, request_id, biz_id,
                              client[0] if client else "", message))

    async def _flush(self, items: Sequence[Noted]) -> None:
        owners: dict[str, AccountId | None] = {}
        for item in items:  # refused before or at authentication: whose key was it?
            key_id = item[2]
            if item[3] is None and key_id and key_id not in owners:
                _, account = await self._keys(key_id)
                owners[key_id] = account.id if account is not None else None
        # Each call's time from the clock's monotonic time noted with it: one wall-clock
        # reading per batch (reading and converting one per call cost 2 µs each).
        wall, now = unix_ms(self._clock.now()), self._clock.monotonic()
        await self._store.add_calls([self._call(item, owners, wall, now) for item in items])

    def _call(self, item: Noted, owners: dict[str, AccountId | None], wall: int,
              now: float) -> ApiCall:
        (noted, action, key_id, account_id, phones, count, sign, template, status, code,
         request_id, biz_id, client, message) = item
        if account_id is None:
            account_id = owners.get(key_id)
        if count == 1 and biz_id:  # the common call: an accepted one-number send
            named_numbers: tuple[str, ...] = (phones,)
        else:
            kept = [p for p in phones.split(",", NUMBERS_KEPT)[:NUMBERS_KEPT] if p]
            # An accepted send's records hold its numbers normalized: the call keeps them
            # as given. The others are normalized, to be found by number.
            named_numbers = tuple(kept) if biz_id else tuple(map(_number, kept))
        # Texts cut to their columns' widths (domain/calls.py TEXT_CHARS), inline: a slice
        # of a shorter text is the text itself, and this runs for every call.
        return ApiCall(self._ids.next_id(wall - int((now - noted) * 1000)), action[:96],
                       account_id, key_id[:64], request_id[:64], status, code[:64], named_numbers,
                       count, sign[:64], template[:64], client[:64],
                       biz_id[:32] if biz_id else None, message[:512])


def named(seen: Seen) -> tuple[str, int, str, str]:
    """The numbers (the first `NUMBERS_KEPT`, comma-separated), how many, the signature and
    the template a call named, from its parameters (RPC: SendSms, SendBatchSms,
    QuerySendDetails and any action's SignName and TemplateCode) or its JSON body (a REST
    send) or query (`phone_number`)."""
    params = seen.params or {}
    if seen.body:
        return _rest_send(seen.body)
    sign, template = params.get("SignName", ""), params.get("TemplateCode", "")
    raw = params.get("PhoneNumbers")
    if raw is not None:
        return (raw if len(raw) <= PREFIX_CHARS else raw[:PREFIX_CHARS],
                raw.count(",") + 1 if raw else 0, sign, template)
    if "PhoneNumberJson" in params:
        listed = _json(params["PhoneNumberJson"])
        signs = _json(params.get("SignNameJson", ""))
        return (_joined(listed), len(listed), str(signs[0]) if signs else sign, template)
    single = params.get("PhoneNumber") or params.get("phone_number") or ""
    return single[:PREFIX_CHARS], 1 if single else 0, sign, template


def _joined(listed: list[Any]) -> str:
    return ",".join(str(p).replace(",", " ") for p in listed[:NUMBERS_KEPT])


def _rest_send(body: bytes) -> tuple[str, int, str, str]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", 0, "", ""
    if not isinstance(parsed, dict):
        return "", 0, "", ""
    phones = parsed.get("phone_numbers", [])
    listed = (phones.split(",") if isinstance(phones, str)
              else phones if isinstance(phones, list) else [])
    sign, template = parsed.get("sign_name", ""), parsed.get("template_code", "")
    return (_joined(listed), len(listed), sign if isinstance(sign, str) else "",
            template if isinstance(template, str) else "")


def _json(text: str) -> list[Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


def _number(raw: str) -> str:
    """The E.164 form of a number (as records store it, so one search finds both), or the
    text as given, cut, when it is no number."""
    number = numbers.normalize(raw)
    return raw.strip()[:NUMBER_CHARS] if isinstance(number, Refusal) else str(number)


def search_form(raw: str) -> str:
    """A number as a search for it is written (`13800138000`, `+86...`), in the form calls
    store it."""
    return _number(raw)


def _key_id(params: Mapping[str, str], headers: Mapping[str, str] | None) -> str:
    """The AccessKey id a signed request names (never its signature)."""
    authorization = (headers or {}).get("authorization", "")
    if authorization.startswith("ACS3-"):
        match = ACS3_KEY.search(authorization)
        return match.group(1) if match else ""
    if authorization[:6].lower() == "basic ":  # the native API: the user name only
        try:
            user = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return ""
        return user.partition(b":")[0].decode("utf-8", "replace")
    return params.get("AccessKeyId", "")


SENDS = frozenset({("POST", "/v1/messages")})
"""REST routes whose JSON body names numbers, a signature and a template."""
ANSWER_KEPT = 4096
"""Bytes of a REST answer read for its code, request id and BizId (error answers and a
send's answer start with them)."""


class RestWatch:
    """One native API call, watched at the ASGI level (`app.py` `FastPaths.rest`): the
    status and the start of the answer, a send's body, the route matched."""

    def __init__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        self.seen = Seen()
        self.status = 0
        self.answer = b""
        self._receive, self._send = receive, send
        self._sending = (scope["method"], scope["path"]) in SENDS

    async def receive(self) -> Any:
        message = await self._receive()
        if self._sending and message["type"] == "http.request":
            self.seen.body += message.get("body", b"")  # (within the limits' body size)
        return message

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and len(self.answer) < ANSWER_KEPT:
            self.answer += message.get("body", b"")[:ANSWER_KEPT]
        await self._send(message)

    def done(self, calls: CallLog, scope: Mapping[str, Any]) -> None:
        """Hand the call to the log once answered."""
        seen = self.seen
        route = getattr(scope.get("route"), "path", None) or scope["path"]
        seen.action = f"{scope['method']} {route}"
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                seen.headers = {"authorization": value.decode("latin-1")}
        query = scope.get("query_string", b"")
        if b"phone_number=" in query:
            seen.params = {k: v for k, v in parse_qsl(query.decode("utf-8", "replace"))
                           if k == "phone_number"}
        code, rid, biz_id, message = (_answered(self.answer) if self.answer[:1] == b"{"
                                      else ("", "", None, ""))
        code = code or ("OK" if self.status < 400 else str(self.status))
        calls.note(seen, self.status, code, rid, biz_id, scope.get("client"),
                   "" if code == "OK" else message)


def _answered(answer: bytes) -> tuple[str, str, str | None, str]:
    """(code, request id, BizId, message) of a JSON answer (what of it was read)."""
    try:
        body = orjson.loads(answer)
    except orjson.JSONDecodeError:  # longer than what was read: a list, not an error
        return "", "", None, ""
    if not isinstance(body, dict):
        return "", "", None, ""
    biz_id, message = body.get("biz_id"), body.get("message")
    return (str(body.get("code") or ""), str(body.get("request_id") or ""),
            biz_id if isinstance(biz_id, str) else None,
            message if isinstance(message, str) else "")


def refused(calls: CallLog, scope: Mapping[str, Any], status: int, code: str,
            request_id: str, message: str) -> None:
    """Log a call the size limits refused before its body was read (`app.py`), with the
    message its caller got."""
    seen = Seen()
    seen.action = "" if scope["path"] == "/" else f"{scope['method']} {scope['path'][:80]}"
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            seen.headers = {"authorization": value.decode("latin-1")}
    calls.note(seen, status, code, request_id, None, scope.get("client"), message)
