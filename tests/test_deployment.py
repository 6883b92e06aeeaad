"""The three-node deployment of deploy/ (docs/deployment.md "Three nodes") run on one box:
node 1 and node 2 run `deploy/systemd/yizhan-api.service`, node 3
`deploy/systemd/yizhan-dispatch.service`, each with the shared `deploy/env/yizhan.env` and
its own `deploy/env/nodeK.env`, on PostgreSQL + Redis. The units' ExecStart and environment
are read as systemd reads them; only what names this machine's addresses and paths (the
database, Redis, the key file, the data folder, the listen address) is replaced by the
test's loopback ones. Messages sent through both API nodes all reach a final status."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import DATABASES
from tests.test_process_lease import shared_database  # noqa: F401 (a fixture)

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
REDIS_URL = os.environ.get("YIZHAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NODES = {1: ("yizhan-api.service", "node1.env"), 2: ("yizhan-api.service", "node2.env"),
         3: ("yizhan-dispatch.service", "node3.env")}
LOCAL = {"YIZHAN_DATABASE_URL", "YIZHAN_REDIS_URL", "YIZHAN_MASTER_KEY_FILE",
         "YIZHAN_DATA_DIR"}
"""Settings that name the deployment's machines and paths: the files must set them; the
test replaces them with its own (and the listen address and port of the API nodes)."""
BOUND = 60.0
"""Seconds within which every message must be final (receipts come after 0.2 s)."""

pytestmark = [pytest.mark.long, pytest.mark.skipif(
    "postgresql" not in DATABASES, reason="the deployment runs on PostgreSQL")]


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a systemd environment file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line}"
            values[key.strip()] = value.strip().strip('"')
    return values


def unit(name: str, node_env: str) -> tuple[list[str], dict[str, str]]:
    """The [Service] ExecStart of a unit and the environment systemd gives it: Environment=
    first, then the EnvironmentFile= files in order, which override it (systemd.exec)."""
    files = {"/etc/yizhan/yizhan.env": DEPLOY / "env" / "yizhan.env",
             "/etc/yizhan/node.env": DEPLOY / "env" / node_env}
    section, command, env, loaded = "", "", {}, []
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            if key == "ExecStart":
                command = value
            elif key == "Environment":
                env.update(dict([shlex.split(value)[0].split("=", 1)]))
            elif key == "EnvironmentFile":
                loaded.append(env_file(files[value]))
    for values in loaded:
        env.update(values)
    return shlex.split(command), env


def test_the_unit_files_describe_two_api_nodes_and_a_dispatch_node_on_shared_state() -> None:
    """What a reader of the files relies on: `yizhan serve` of the named role, the same
    database, Redis and key on every node, and the Redis frequency counters that let two
    API processes accept messages."""
    units = {n: unit(*NODES[n]) for n in NODES}
    for n, (command, env) in units.items():
        assert command[0].endswith("/yizhan") and command[1:] == ["serve"]
        assert env["YIZHAN_ROLE"] == ("dispatch" if n == 3 else "api")
        assert env["YIZHAN_RATE_BACKEND"] == "redis"
        assert LOCAL <= env.keys()
    for key in ("YIZHAN_DATABASE_URL", "YIZHAN_REDIS_URL", "YIZHAN_MASTER_KEY_FILE"):
        assert len({env[key] for _, env in units.values()}) == 1
    assert "YIZHAN_PORT" in units[1][1] and "YIZHAN_PORT" in units[2][1]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"yizhan:t-deploy-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    """One node's unit run as a process on this box, its output read on a thread."""

    def __init__(self, number: int, local: dict[str, str]) -> None:
        command, env = unit(*NODES[number])
        assert command[0] == "/opt/yizhan/bin/yizhan"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_")},
                    **env, **local}
        if env["YIZHAN_ROLE"] == "api":
            self.env.update(YIZHAN_HOST="127.0.0.1", YIZHAN_PORT=str(free_port()))
            self.env.pop("YIZHAN_PUBLIC_ENDPOINT", None)
            self.url = f"http://127.0.0.1:{self.env['YIZHAN_PORT']}"
        self.command = [sys.executable, "-m", "yizhan", *command[1:]]
        self.lines: list[str] = []

    def start(self, ready: str) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if ready in line:
                break
        else:
            raise AssertionError("the node exited before it was ready:\n" + "".join(self.lines))
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout or []),
                         daemon=True).start()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode


@pytest.mark.parametrize("database", ["postgresql"])
def test_three_nodes_deliver_what_both_api_nodes_accept(
        shared_database: str, redis_prefix: str, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "master.key"
    key_file.write_text(subprocess.run([sys.executable, "-m", "yizhan", "keys", "new-master"],
                                       capture_output=True, text=True, check=True).stdout)
    key_file.chmod(0o600)
    nodes = {n: Node(n, {"YIZHAN_DATABASE_URL": shared_database, "YIZHAN_REDIS_URL": REDIS_URL,
                         "YIZHAN_REDIS_PREFIX": redis_prefix,
                         "YIZHAN_MASTER_KEY_FILE": str(key_file),
                         "YIZHAN_DATA_DIR": str(tmp_path / f"node{n}")}) for n in NODES}
    info = json.loads(subprocess.run([sys.executable, "-m", "yizhan", "demo", "--json"],
                                     env=nodes[1].env, capture_output=True, text=True,
                                     check=True).stdout)
    started: list[Node] = []
    try:
        for n, ready in ((1, "API endpoint"), (2, "API endpoint"),
                         (3, "dispatch process running")):
            nodes[n].start(ready)
            started.append(nodes[n])
        auth = (str(info["access_key_id"]), str(info["access_key_secret"]))
        sent: dict[int, list[str]] = {1: [], 2: []}
        for n in (1, 2):
            with httpx.Client(base_url=nodes[n].url, auth=auth, timeout=10) as client:
                for request in range(5):
                    answer = client.post("/v1/messages", json={
                        "phone_numbers": [f"1380013{n}{request}{k:02d}" for k in range(10)],
                        "sign_name": info["sign_name"],
                        "template_code": info["templates"]["verification"],
                        "template_param": {"code": "7"}}).json()
                    assert answer["code"] == "OK", answer
                    sent[n].append(answer["biz_id"])
        deadline = time.monotonic() + BOUND
        statuses: dict[str, str] = {}
        with httpx.Client(base_url=nodes[2].url, auth=auth, timeout=10) as client:
            while time.monotonic() < deadline:
                statuses = {m["message_id"]: m["status"] for biz_id in sent[1] + sent[2]
                            for m in client.get("/v1/messages",
                                                params={"biz_id": biz_id}).json()["messages"]}
                if len(statuses) == 100 and all(s != "waiting" for s in statuses.values()):
                    break
                time.sleep(0.2)
        assert len(statuses) == 100
        assert set(statuses.values()) == {"success"}, statuses
    finally:
        codes = [node.stop() for node in reversed(started)]
    assert codes == [0, 0, 0], "".join(line for node in started for line in node.lines[-20:])
