"""The FastAPI application factory: routes, error handlers, shared services on app.state.

OpenAPI is served at /docs and /openapi.json. `GET /healthz` answers without touching the
store (the benchmarks use it as the stack's ceiling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from yizhan import __version__
from yizhan.api import errors, push, records, rest
from yizhan.api.aliyun.endpoint import AliyunServices, rpc
from yizhan.api.auth import Authenticator
from yizhan.domain.ports import Clock
from yizhan.intake import Intake
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
    app.include_router(rest.router)
    app.include_router(push.router)
    app.include_router(records.router)
    # The Alibaba Cloud compatible RPC endpoint (docs/aliyun.md): every action on "/".
    app.add_route("/", rpc, methods=["GET", "POST"], include_in_schema=False)
    app.add_exception_handler(rest.AuthFailed, rest.on_auth_failed)
    app.add_exception_handler(RequestValidationError, errors.on_validation_error)
    app.add_exception_handler(HTTPException, errors.on_http_error)
    app.add_exception_handler(Exception, errors.on_unexpected)

    @app.get("/healthz", tags=["operations"], summary="Liveness; touches nothing")
    async def healthz() -> Response:
        return errors.json_response({"status": "ok"})

    return app
