"""The three official SDK flavours behind one call, for end-to-end tests: the v4 SDK with
ACS3 (its default), the v4 SDK with `signature_algorithm='v2'` (HMAC-SHA1), and the legacy
`aliyun-python-sdk-core` + `aliyun-python-sdk-dysmsapi`. Each answers an `Outcome`: the HTTP
status and code the application sees, and the body the SDK handed back (or the error's)."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

FLAVOURS = ("v4-acs3", "v4-v1", "legacy")

if TYPE_CHECKING:
    from tests.conftest import Running


@dataclass
class Outcome:
    status: int
    code: str
    body: dict[str, Any]
    message: str = ""


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SdkClient:
    def __init__(self, flavour: str, port: int, key_id: str, secret: str) -> None:
        self.flavour = flavour
        self.port = port
        if flavour.startswith("v4"):
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi import models as open_api_models

            config = open_api_models.Config(
                access_key_id=key_id, access_key_secret=secret,
                endpoint=f"127.0.0.1:{port}", protocol="HTTP", region_id="cn-hangzhou")
            if flavour == "v4-v1":
                config.signature_algorithm = "v2"
            self.client: Any = Client(config)
        else:
            from aliyunsdkcore.client import AcsClient

            self.client = AcsClient(key_id, secret, "cn-hangzhou", port=port)

    def call(self, action: str, **params: Any) -> Outcome:
        return self._v4(action, params) if self.flavour.startswith("v4") else \
            self._legacy(action, params)

    def _v4(self, action: str, params: dict[str, Any]) -> Outcome:
        from alibabacloud_dysmsapi20170525 import models
        from Tea.exceptions import TeaException

        request = getattr(models, f"{action}Request")().from_map(params)
        try:
            response = getattr(self.client, snake(action))(request)
        except TeaException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            status = data.get("statusCode") or getattr(exc, "status_code", 0) or 0
            return Outcome(int(status), str(exc.code), data, str(exc.message))
        body = response.body.to_map()
        return Outcome(response.status_code, body.get("Code", ""), body,
                       body.get("Message", ""))

    def _legacy(self, action: str, params: dict[str, Any]) -> Outcome:
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        module = importlib.import_module(f"aliyunsdkdysmsapi.request.v20170525.{action}Request")
        request = getattr(module, f"{action}Request")()
        request.set_endpoint("127.0.0.1")
        for name, value in params.items():
            if name == "SignFileList":
                request.set_SignFileLists(value)
            elif hasattr(request, f"set_{name}"):
                getattr(request, f"set_{name}")(value)
            else:
                request.add_query_param(name, value)
        try:
            raw = self.client.do_action_with_exception(request)
        except ServerException as exc:
            return Outcome(exc.get_http_status(), exc.get_error_code(), {},
                           exc.get_error_msg())
        body = json.loads(raw)
        return Outcome(200, body.get("Code", ""), body, body.get("Message", ""))


class Tenant:
    """An account calling the running server through the official SDK (`flavour`)."""

    def __init__(self, running: Running, key_id: str, secret: str,
                 flavour: str = "v4-acs3") -> None:
        port = int(running.base_url.rsplit(":", 1)[1])
        self.sdk = SdkClient(flavour, port, key_id, secret)
        self.start_path = ""
        """The StartPath of the account's documents, once `tests/api/aliyun/uploads.py`
        uploaded them."""

    def doc(self, name: str) -> str:
        """The key of the account's uploaded document `name` (a bare file name)."""
        return f"{self.start_path}{name}" if "/" not in name else name

    async def call(self, action: str, **params: Any) -> Outcome:
        return await asyncio.to_thread(self.sdk.call, action, **params)
