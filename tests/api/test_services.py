"""The API receives one typed services object (issue 15 point 4): the REST routes, the
Alibaba-compatible endpoint and its actions take their collaborators from it, and nothing
else is looked up on the app's state."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from tests.conftest import Running
from yizhan.api.services import ApiServices

API = Path(__file__).parents[2] / "src" / "yizhan" / "api"


async def test_one_frozen_services_object_serves_both_apis(running: Running) -> None:
    services = running.yz.api.services
    assert isinstance(services, ApiServices)
    assert running.yz.api.app.state.services is services
    assert services.intake is running.yz.intake and services.store is running.yz.store
    with pytest.raises(FrozenInstanceError):
        services.clock = running.yz.clock  # type: ignore[misc]
    answer = await running.client.get("/v1/messages/1", auth=("nobody", "wrong"))
    assert answer.status_code == 401  # the REST route found its authenticator there


def test_no_handler_looks_anything_else_up_on_the_app_state() -> None:
    lookups = {str(path.relative_to(API)): found for path in API.rglob("*.py")
               if (found := re.findall(r"app\.state\.(\w+)", path.read_text()))}
    assert lookups == {"app.py": ["services"], "services.py": ["services"]}
