"""`yizhan receipts unmatched`: the receipts that matched no message, raw, as a table and as
JSON (issue 14 point 13)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import ManualClock
from tests.storage.test_unmatched import update
from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.settings import Settings

runner = CliRunner()


async def _given_up(data_dir: Path) -> None:
    store = open_store(Settings(data_dir=data_dir))  # the data folder's store and master key
    await store.migrate()
    clock = ManualClock()
    await store.store_receipts([update("face0ff", clock, "UNDELIV", phone="+8613800000001"),
                                update("b0b", clock)], clock.now())
    later = clock.now() + timedelta(minutes=1)
    await store.settle_unmatched_receipts(later, later)
    await store.close()


def test_unmatched_receipts_are_listed_raw(tmp_path: Path) -> None:
    """issue 14 point 13: a receipt that matches no message can be seen, as it came."""
    asyncio.run(_given_up(tmp_path))
    result = runner.invoke(app, ["receipts", "unmatched", "--data-dir", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Unmatched receipts (2 shown" in result.output
    assert "face0ff" in result.output and "id:face0ff" in result.output
    assert "+8613800000001" in result.output and "UNDELIV" in result.output
    result = runner.invoke(app, ["receipts", "unmatched", "--json", "--channel", "sim",
                                 "--limit", "1", "--data-dir", str(tmp_path)])
    [newest] = json.loads(result.output)
    assert (newest["remote_id"], newest["code"], newest["raw"]) == ("b0b", "DELIVRD",
                                                                    "id:b0b")
    result = runner.invoke(app, ["receipts", "unmatched", "--json", "--channel", "other",
                                 "--data-dir", str(tmp_path)])
    assert json.loads(result.output) == []
