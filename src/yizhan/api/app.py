"""The FastAPI application factory: routes, error handlers, the services (`services.py`).

OpenAPI is served at /openapi.json, and read at /docs (`docs.py`, no CDN). `GET /healthz`
answers without touching the store (the benchmarks use it as the stack's ceiling).
"""

from __future__ import annotations

import sys
from collections.abc import Collection

import orjson
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from yizhan import __version__
from yizhan.api import callbacks, docs, errors
from yizhan.api.aliyun.endpoint import (
    JSON_UTF8,
    Reply,
    failure,
    handle_safely,
    rpc,
)
from yizhan.api.aliyun.uploads import XML, upload
from yizhan.api.call_log import RestWatch, refused
from yizhan.api.errors import log_unexpected, logged, request_id
from yizhan.api.limits import (
    BodyTooLarge,
    Drain,
    HttpLimits,
    check_head,
    read_body,
    replay,
)
from yizhan.api.multipart import FORM_OVERHEAD
from yizhan.api.querystring import utf8_query
from yizhan.api.rest import (
    calls,
    diagnosis,
    frequency,
    push,
    records,
    registration,
    signatures,
    tasks,
    template_lint,
)
from yizhan.api.rest import messages as rest
from yizhan.api.services import ApiServices
from yizhan.compliance.documents import UPLOAD_PATH
from yizhan.domain.errors import Refusal
from yizhan.runtime.metrics import CONTENT_TYPE as METRICS_TYPE


def create_app(services: ApiServices) -> FastAPI:
    app = FastAPI(title="Yizhan SMS", version=__version__,
                  description="Native REST API of Yizhan. Authenticate with HTTP Basic: "
                  "AccessKey id as user name, secret as password.",
                  docs_url=None, redoc_url=None, dependencies=[Depends(rest.known_query)])
    docs.serve_docs(app)
    app.openapi = lambda: docs.openapi_document(app)  # type: ignore[method-assign]
    app.state.services = services  # the routes read it with `services_of(request)`
    app.include_router(rest.router)
    app.include_router(push.router)
    app.include_router(records.router)
    app.include_router(frequency.router)
    app.include_router(template_lint.router)
    app.include_router(registration.router)
    app.include_router(signatures.router)
    app.include_router(tasks.router)
    app.include_router(diagnosis.router)
    app.include_router(calls.router)
    # The Alibaba Cloud compatible RPC endpoint (docs/aliyun.md): every action on "/".
    app.add_route("/", rpc, methods=["GET", "POST"], include_in_schema=False)
    # Receipts pushed by upstream channels' providers (docs/channels.md).
    app.add_route(callbacks.PATH, callbacks.upstream_callback, methods=["POST"],
                  include_in_schema=False)
    app.add_exception_handler(rest.AuthFailed, rest.on_auth_failed)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    app.add_exception_handler(HTTPException, errors.on_http_error)
    app.add_exception_handler(Exception, errors.on_unexpected)

    @app.get("/healthz", tags=["operations"], summary="Liveness; touches nothing",
             responses=errors.error_responses(authenticated=False))
    async def healthz() -> Response:
        return errors.json_response({"status": "ok"})

    metrics = services.metrics

    @app.get("/metrics", tags=["operations"], summary="Counters in the Prometheus text format",
             response_class=PlainTextResponse,
             responses=errors.error_responses(authenticated=False))
    async def metrics_text() -> Response:
        body = metrics.render() if metrics is not None else b""
        return Response(body, media_type=METRICS_TYPE)

    return app



DRAIN_BYTES = 16 * 1024 * 1024
"""A refused console upload of up to this many bytes is read to its end (and dropped), so
that the browser, done sending, shows the page that says why."""


class FastPaths:
    """The ASGI application the server runs: the Alibaba-compatible RPC endpoint (`/`) goes
    straight to its handler, everything else through FastAPI.

    The RPC endpoint takes the SDKs' whole traffic and needs nothing of FastAPI's (no
    validation, no OpenAPI, its own error answers); the seven middleware and routing layers
    in front of it cost about a tenth of a SendSms request's CPU (docs/benchmarks.md). The
    route stays registered on the FastAPI app as well, so both paths run the same handler.

    Every request first meets the size limits (`limits.py`) and has its query string read
    as UTF-8 (`querystring.py`), on both paths. The upload endpoint of qualification
    documents (`aliyun/uploads.py`) has a body limit of its own and streams its body; so has
    the upload of a send task's number file (`rest/tasks.py`), which the route streams; a
    refusal of such an upload first reads its body to the end (`limits.Drain`).
    """

    def __init__(self, app: FastAPI, services: ApiServices,
                 self_bounded: Collection[str] = ()) -> None:
        """`self_bounded`: paths whose POST routes bound their streamed bodies themselves
        and answer a body too large in their own shape (the console's task upload, which
        answers a page): only their headers are checked here."""
        self.app = app
        self.services = services
        self.limits = services.limits
        self.uploads = services.uploads
        self.task_upload = HttpLimits(services.task_max_file_bytes + FORM_OVERHEAD,
                                      services.limits.max_header_bytes)
        self.self_bounded = frozenset(self_bounded)
        self.headers_only = HttpLimits(sys.maxsize, services.limits.max_header_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == UPLOAD_PATH and scope["method"] == "POST" and self.uploads:
            await send_reply(send, await upload(self.services, self.uploads, scope, receive),
                             XML)
            return
        rpc_path = scope["path"] == "/" and scope["method"] in ("GET", "POST")
        # A send task's upload bounds its streamed body itself (api/rest/tasks.py).
        task_upload = scope["path"] == tasks.UPLOAD_PATH and scope["method"] == "POST"
        own = scope["method"] == "POST" and scope["path"] in self.self_bounded
        refusal, streamed = check_head(scope, self.headers_only if own else
                                       self.task_upload if task_upload else self.limits)
        streamed = streamed and not (task_upload or own)
        if (task_upload or own) and refusal is None:
            budget = DRAIN_BYTES if own else self.task_upload.max_body_bytes
            drain = Drain(receive, send, budget, announced_length(scope))
            receive, send = drain.receive, drain.send
        if task_upload and refusal is not None and refusal.code == "RequestTooLarge":
            refusal = Refusal("isv.TASK_FILE_TOO_LARGE", refusal.detail)
        query = utf8_query(scope["query_string"], check_escapes=not rpc_path)
        if isinstance(query, Refusal):
            refusal = refusal or query
        elif query is not scope["query_string"]:
            scope = {**scope, "query_string": query}
        if refusal is not None:
            await self.refuse(scope, send, refusal, rpc_path)
        elif rpc_path:
            await self.rpc(scope, receive, send)
        else:
            await self.rest(scope, receive, send, streamed)

    async def rest(self, scope: Scope, receive: Receive, send: Send, streamed: bool) -> None:
        if streamed:  # no length announced: read up to the limit first
            body = await self.body(scope, receive, send, False)
            if body is None:
                return
            receive = replay(body, receive)
        calls = self.services.calls
        watch = (RestWatch(scope, receive, send)
                 if calls is not None and scope["path"].startswith("/v1/") else None)
        if watch is not None:
            receive, send = watch.receive, watch.send
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # FastAPI answered it (errors.on_unexpected, which logged it) and raised it
            # again for the server, which would log it a second time.
            if not logged(exc):  # raised after the answer had started
                log_unexpected(exc, request_id(), f"{scope['method']} {scope['path']}")
        finally:
            if watch is not None and calls is not None:  # the call log (call_log.py)
                watch.done(calls, scope)

    async def rpc(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self.body(scope, receive, send, True)
        if body is not None:
            await send_reply(send, await handle_safely(self.services, scope, body))

    async def body(self, scope: Scope, receive: Receive, send: Send,
                   rpc_path: bool) -> bytes | None:
        """The whole body, or None when it was refused or the client went away."""
        try:
            return await read_body(receive, self.limits.max_body_bytes)
        except BodyTooLarge as too_large:
            await self.refuse(scope, send, too_large.refusal, rpc_path)
            return None

    async def refuse(self, scope: Scope, send: Send, refusal: Refusal, rpc_path: bool) -> None:
        """Answer a request the limits refuse, in the shape of its API, and close the
        connection: what the client still sends is not read."""
        close = {"connection": "close"}
        rid = request_id()
        if rpc_path:
            reply = failure(self.services, scope, rid, refusal, close)
        else:
            request = Request(scope)
            lang = errors.language_of(request.headers.get("accept-language", ""),
                                      self.services.default_language)
            answered = errors.refusal_json(refusal, lang, rid)
            reply = Reply(refusal.error.http_status, orjson.dumps(answered), close,
                          refusal.code, message=str(answered["message"]))
        if self.services.calls is not None and (rpc_path or scope["path"].startswith("/v1/")):
            refused(self.services.calls, scope, reply.status, refusal.code, rid, reply.message)
        await send_reply(send, reply, b"" if rpc_path else b"application/json")


async def send_reply(send: Send, reply: Reply, content_type: bytes = b"") -> None:
    headers = [(b"content-type", content_type or JSON_UTF8_BYTES),
               (b"content-length", str(len(reply.body)).encode()),
               *((k.encode(), v.encode("latin-1")) for k, v in reply.headers.items())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


JSON_UTF8_BYTES = JSON_UTF8.encode()


def announced_length(scope: Scope) -> int:
    """The request's Content-Length (0 if none: a chunked body)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def create_asgi(services: ApiServices) -> FastPaths:
    return FastPaths(create_app(services), services)
