"""The FastAPI application factory: routes, error handlers, shared services on app.state.

OpenAPI is served at /docs and /openapi.json. `GET /healthz` answers without touching the
store (the benchmarks use it as the stack's ceiling).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from yizhan import __version__
from yizhan.api import errors, frequency, push, records, rest
from yizhan.api.aliyun.endpoint import JSON_UTF8, AliyunServices, handle, internal_error, rpc
from yizhan.api.auth import Authenticator
from yizhan.domain.ports import Clock
from yizhan.intake import Intake
from yizhan.metrics import CONTENT_TYPE as METRICS_TYPE
from yizhan.metrics import Metrics
from yizhan.policy.flow_control import FrequencyControl
from yizhan.receipts.codes import PLATFORM_BOOK, CodeBook
from yizhan.webhooks.destinations import PushNetworks
from yizhan.webhooks.queue import QueueSettings


@dataclass(frozen=True)
class ApiServices:
    store: Any
    intake: Intake
    auth: Authenticator
    clock: Clock
    aliyun: AliyunServices
    default_language: str = "en"
    queue: QueueSettings = field(default_factory=QueueSettings)
    metrics: Metrics | None = None
    frequency: FrequencyControl | None = None
    push_networks: PushNetworks = field(default_factory=PushNetworks)
    codes: CodeBook = PLATFORM_BOOK
    """The channels' code tables: records explain their codes with them."""


def create_app(services: ApiServices) -> FastAPI:
    app = FastAPI(title="Yizhan SMS", version=__version__,
                  description="Native REST API of Yizhan. Authenticate with HTTP Basic: "
                  "AccessKey id as user name, secret as password.")
    app.state.store = services.store
    app.state.intake = services.intake
    app.state.auth = services.auth
    app.state.clock = services.clock
    app.state.default_language = services.default_language
    app.state.aliyun = services.aliyun
    app.state.queue_settings = services.queue
    app.state.frequency = services.frequency
    app.state.push_networks = services.push_networks
    app.state.codes = services.codes
    app.include_router(rest.router)
    app.include_router(push.router)
    app.include_router(records.router)
    app.include_router(frequency.router)
    # The Alibaba Cloud compatible RPC endpoint (docs/aliyun.md): every action on "/".
    app.add_route("/", rpc, methods=["GET", "POST"], include_in_schema=False)
    app.add_exception_handler(rest.AuthFailed, rest.on_auth_failed)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    app.add_exception_handler(HTTPException, errors.on_http_error)
    app.add_exception_handler(Exception, errors.on_unexpected)

    @app.get("/healthz", tags=["operations"], summary="Liveness; touches nothing")
    async def healthz() -> Response:
        return errors.json_response({"status": "ok"})

    metrics = services.metrics

    @app.get("/metrics", tags=["operations"], summary="Counters in the Prometheus text format",
             response_class=PlainTextResponse)
    async def metrics_text() -> Response:
        body = metrics.render() if metrics is not None else b""
        return Response(body, media_type=METRICS_TYPE)

    return app


log = logging.getLogger("yizhan.api")


class FastPaths:
    """The ASGI application the server runs: the Alibaba-compatible RPC endpoint (`/`) goes
    straight to its handler, everything else through FastAPI.

    The RPC endpoint takes the SDKs' whole traffic and needs nothing of FastAPI's (no
    validation, no OpenAPI, its own error answers); the seven middleware and routing layers
    in front of it cost about a tenth of a SendSms request's CPU (docs/benchmarks.md). The
    route stays registered on the FastAPI app as well, so both paths run the same handler.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @property
    def state(self) -> Any:
        """The FastAPI app's state: the services the handlers use."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != "/"
                or scope["method"] not in ("GET", "POST")):
            await self.app(scope, receive, send)
            return
        services = self.app.state.aliyun
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        try:
            reply = await handle(services, scope, body)
        except Exception:
            log.exception("RPC request failed")
            reply = internal_error(services, scope)
        headers = [(b"content-type", JSON_UTF8_BYTES),
                   (b"content-length", str(len(reply.body)).encode()),
                   *((k.encode(), v.encode("latin-1")) for k, v in reply.headers.items())]
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


JSON_UTF8_BYTES = JSON_UTF8.encode()


async def read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_asgi(services: ApiServices) -> FastPaths:
    return FastPaths(create_app(services))
