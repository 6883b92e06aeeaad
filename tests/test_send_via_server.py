"""`yizhan send` beside a running `yizhan serve` (issue 14 point 15): the send goes through
the server, so its frequency limits count CLI and API sends alike; a second server on the
same data folder is refused; once the server is gone (even killed), the CLI sends on its
own again. A real `serve` process, the CLI through Typer's runner."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.test_cli import yz
from tests.test_restart import ServeProcess
from yizhan.runtime.server_lock import holder


def _send(data_dir: Path, info: dict[str, str], number: str) -> tuple[int, str]:
    return yz(data_dir, "send", number, "--account", "demo", "--sign", info["sign_name"],
              "--template", info["templates"]["verification"], "--param", "code=1234")


def test_cli_send_counts_against_the_running_servers_limits(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    env = {**os.environ, "YIZHAN_DATA_DIR": str(tmp_path)}
    with ServeProcess(env) as server:
        running = holder(tmp_path)
        assert running is not None and running.url == server.url
        assert running.pid == server.process.pid
        assert running.store == f"sqlite+aiosqlite:///{(tmp_path / 'yizhan.db').resolve()}"
        key_id, secret = info["access_key_id"], info["access_key_secret"]
        with httpx.Client(base_url=server.url, auth=(key_id, secret), trust_env=False) as api:
            body = {"phone_numbers": ["13800138001"], "sign_name": info["sign_name"],
                    "template_code": info["templates"]["verification"],
                    "template_param": {"code": "1111"}}
            assert api.post("/v1/messages", json=body).json()["code"] == "OK"
            # The CLI's code to the same number is the second within the minute.
            code, output = _send(tmp_path, info, "13800138001")
            assert code == 1 and "isv.BUSINESS_LIMIT_CONTROL" in output, output
            # And the other way round: the CLI's send counts for the API.
            code, output = _send(tmp_path, info, "13800138002")
            assert code == 0, output
            assert f"accepted by the running server (pid {server.process.pid}" in output
            biz_id = re.search(r"BizId (\S+)", output).group(1)  # type: ignore[union-attr]
            body["phone_numbers"] = ["13800138002"]
            refused = api.post("/v1/messages", json=body)
            assert refused.json()["code"] == "isv.BUSINESS_LIMIT_CONTROL"
            found = api.get("/v1/messages", params={"biz_id": biz_id}).json()["messages"]
            assert [m["phone_number"] for m in found] == ["13800138002"]

        second = subprocess.run([sys.executable, "-m", "yizhan", "serve", "--port", "0"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"another yizhan serve (pid {server.process.pid}, {server.url})" in second.stderr
        # No enabled key to send through the server as: said, with what to do.
        assert yz(tmp_path, "keys", "disable", info["access_key_id"])[0] == 0
        code, output = _send(tmp_path, info, "13800138004")
        assert code == 1 and "no enabled AccessKey" in output
        assert "keys create --account demo" in output
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(15)
    # Killed, it holds nothing: the CLI stores the send itself.
    assert holder(tmp_path) is None
    code, output = _send(tmp_path, info, "13800138003")
    assert code == 0 and "accepted, BizId" in output and "running server" not in output
