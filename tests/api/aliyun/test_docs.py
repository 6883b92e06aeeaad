"""The SDK examples in docs/aliyun.md run as written against a running Yizhan."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import Running

DOC = Path(__file__).parents[3] / "docs" / "aliyun.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
async def test_doc_example_runs(example: str, running: Running,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("YIZHAN_KEY_ID", running.demo.key.id)
    monkeypatch.setenv("YIZHAN_SECRET", running.demo.key.secret)
    monkeypatch.setenv("YIZHAN_TEMPLATE", running.verification)
    monkeypatch.setenv("YIZHAN_ENDPOINT", running.base_url.removeprefix("http://"))
    await asyncio.to_thread(exec, compile(example, str(DOC), "exec"), {})
    messages = await running.yz.store.query_messages(
        running.demo.account.id, None, running.yz.clock.now().replace(year=2000),
        running.yz.clock.now().replace(year=2100))
    assert messages[0] == 1
