"""The SDK examples in docs/aliyun.md run as written against a running Yizhan, one after the
other as a reader runs them, each as its own Python program with the official SDK."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ManualClock, Running

DOC = Path(__file__).parents[3] / "docs" / "aliyun.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def running_clock() -> ManualClock:
    """The server's clock stands still at the real time: signed requests stay fresh, and every
    send of the test falls in one minute window of frequency control."""
    return ManualClock(datetime.now(UTC))


@dataclass
class Run:
    status: int
    out: str
    err: str


async def run_example(example: str, running: Running) -> Run:
    env = {name: value for name, value in os.environ.items()
           if name.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(YIZHAN_KEY_ID=running.demo.key.id, YIZHAN_SECRET=running.demo.key.secret,
               YIZHAN_TEMPLATE=running.verification, PYTHONIOENCODING="utf-8",
               YIZHAN_ENDPOINT=running.base_url.removeprefix("http://"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", example, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def test_the_doc_has_both_examples() -> None:
    assert len(EXAMPLES) == 2
    assert "alibabacloud_dysmsapi20170525" in EXAMPLES[0]
    assert "aliyunsdkcore" in EXAMPLES[1]


async def test_doc_examples_run_back_to_back(running: Running) -> None:
    """issue 14 point 22: the v4 and the legacy example, run one after the other within the
    same minute, both send (the second used to meet the 1-per-minute limit of the first and
    die on KeyError 'BizId'); each prints a BizId that names what it sent."""
    for sent, example in enumerate(EXAMPLES, 1):
        run = await run_example(example, running)
        assert run.status == 0, run.err
        found = re.search(r"\b(\d{18}\^0)", run.out)
        assert found, run.out
        total, messages = await running.yz.store.query_messages(
            running.demo.account.id, None, running.yz.clock.now().replace(year=2000),
            running.yz.clock.now().replace(year=2100))
        assert total == sent
        assert messages[0].biz_id == found.group(1)


async def test_doc_examples_print_a_refusal(running: Running) -> None:
    """issue 14 point 22: an example run twice within the minute is refused by frequency
    control; it prints the code and the message and exits 1, without a traceback."""
    for example in EXAMPLES:
        assert (await run_example(example, running)).status == 0
        again = await run_example(example, running)
        assert again.status == 1, again.out
        assert "Traceback" not in again.err, again.err
        assert "isv.BUSINESS_LIMIT_CONTROL" in again.out + again.err
        assert not re.search(r"\d{18}\^0", again.out + again.err)
