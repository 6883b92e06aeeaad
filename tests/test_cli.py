"""The `yizhan` command as a user runs it: the serve smoke test through the real entry
point, the demo seeding, and every operator command with its tables and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.test_restart import ServeProcess, _poll
from yizhan.cli.main import app

runner = CliRunner()


def yz(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_serve_smoke_first_start_prints_how_to_send_and_later_starts_keep_the_secret(
        tmp_path: Path) -> None:
    env = {**os.environ, "YIZHAN_DATA_DIR": str(tmp_path / "data"),
           "YIZHAN_SIMULATOR_DELAY_SECONDS": "0.05"}
    entry = str(Path(sys.executable).parent / "yizhan")  # the installed console script
    process = subprocess.Popen([entry, "serve", "--port", "0"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    banner = _read_banner(process)
    try:
        endpoint = re.search(r"API endpoint\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        key_id = re.search(r"AccessKey id\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        secret = re.search(r"AccessKey secret\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        curl = next(line.strip() for line in banner.splitlines()
                    if line.strip().startswith("curl") and "-d" in line)
        sent = subprocess.run(shlex.split(curl), capture_output=True, text=True, check=True)
        biz_id = json.loads(sent.stdout)["biz_id"]
        with httpx.Client(base_url=endpoint, auth=(key_id, secret)) as client:
            delivered = _poll(lambda: [m for m in client.get(
                "/v1/messages", params={"biz_id": biz_id}).json()["messages"]
                if m["status"] == "success"], 10)
        assert delivered[0]["error_code"] == "DELIVERED"
        # issue 14 point 24: the banner shows the simulator's port, whose binds need a
        # channel's credentials (the built-in channels have no password).
        smsc = re.search(r"SMPP simulator\s+127\.0\.0\.1:(\d+)", banner)
        assert smsc is not None, banner
        assert asyncio.run(_bind_statuses(int(smsc.group(1)))) == [0, 0x0E, 0x0F]
    finally:
        process.send_signal(2)
        assert process.wait(15) == 0
    # A later start reuses the account and prints no secret.
    with ServeProcess(env) as again:
        assert again.url == endpoint.rsplit(":", 1)[0] + ":" + again.url.rsplit(":", 1)[1]
    code, output = yz(tmp_path / "data", "keys", "list")
    assert code == 0 and key_id in output and secret not in output


async def _bind_statuses(port: int) -> list[int]:
    """The answers to binds as cmcc (no password), cmcc with a password, and a stranger."""
    from yizhan.dispatch.channels.smpp_link import Link
    from yizhan.dispatch.channels.smpp_pdu import Bind, Command

    statuses = []
    for system_id, password in (("cmcc", ""), ("cmcc", "guess"), ("ghost", "")):
        _, link = await asyncio.get_running_loop().create_connection(
            lambda: Link(lambda _link, _pdu: None), "127.0.0.1", port)
        try:
            answer = await asyncio.wait_for(link.request(Command.BIND_TRANSCEIVER,
                                                         Bind(system_id, password)), 5)
            statuses.append(answer.status)
        finally:
            link.close()
    return statuses


def _read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Then see it delivered"):
            return "".join(lines)
    raise AssertionError("serve ended early:\n" + "".join(lines))


def test_second_start_banner_has_no_secret(tmp_path: Path) -> None:
    env = {**os.environ, "YIZHAN_DATA_DIR": str(tmp_path)}
    first = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--port", "0"], env=env,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    banner1 = _read_banner(first)
    first.send_signal(2)
    first.wait(15)
    second = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--port", "0"],
                              env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    banner2 = _read_banner(second)
    second.send_signal(2)
    second.wait(15)
    secret = re.search(r"AccessKey secret\s+(\S+)", banner1).group(1)  # type: ignore[union-attr]
    assert secret not in banner2 and "$YIZHAN_SECRET" in banner2
    assert "shown at first start only" in banner2


def test_demo_json_prints_the_secret_only_when_it_creates_the_key(tmp_path: Path) -> None:
    code, output = yz(tmp_path, "demo", "--json")
    first = json.loads(output)
    assert code == 0 and first["access_key_secret"] and first["sign_name"] == "驿站"
    assert set(first["templates"]) == {"verification", "notification", "promotion"}
    assert first["endpoint"] == "127.0.0.1:8080"
    code, output = yz(tmp_path, "demo", "--json")
    second = json.loads(output)
    assert "access_key_secret" not in second
    assert second["access_key_id"] == first["access_key_id"]
    assert second["templates"] == first["templates"]
    # The built-in channels' simulated carriers refuse unregistered signatures: the demo
    # signature is registered on each (docs/compliance.md "Enforcement").
    code, output = yz(tmp_path, "signs", "status", "驿站", "--account", "demo", "--json")
    assert code == 0, output
    assert [(c["carrier"], c["cause"], c["blocked"]) for c in json.loads(output)["carriers"]] \
        == [(carrier, "registered", False) for carrier in ("mobile", "unicom", "telecom")]


def test_accounts_keys_and_review_commands(tmp_path: Path) -> None:
    code, output = yz(tmp_path, "accounts", "create", "acme")
    assert code == 0 and "AccessKey secret" in output
    key_id = re.search(r"AccessKey id\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    assert yz(tmp_path, "accounts", "create", "acme")[0] == 1
    code, output = yz(tmp_path, "accounts", "list")
    assert code == 0 and "acme" in output
    code, output = yz(tmp_path, "keys", "create", "--account", "acme")
    assert code == 0 and "AccessKey secret" in output
    assert yz(tmp_path, "keys", "create", "--account", "nobody")[0] == 1
    code, output = yz(tmp_path, "keys", "disable", key_id)
    assert code == 0
    code, output = yz(tmp_path, "keys", "list", "--account", "acme")
    assert "disabled" in output and "enabled" in output
    assert yz(tmp_path, "keys", "disable", "LTAInope")[0] == 1

    code, output = yz(tmp_path, "signs", "add", "--account", "acme", "阿里云")
    assert code == 0 and "pending" in output
    sign_id = re.search(r"id (\d+)", output).group(1)  # type: ignore[union-attr]
    assert yz(tmp_path, "signs", "approve", sign_id)[0] == 0
    code, output = yz(tmp_path, "signs", "list", "--account", "acme")
    assert "approved" in output
    code, output = yz(tmp_path, "signs", "reject", sign_id, "--reason", "trademark missing")
    assert code == 0
    assert "trademark missing" in yz(tmp_path, "signs", "list")[1]
    assert yz(tmp_path, "signs", "approve", "999")[0] == 1
    assert yz(tmp_path, "signs", "reject", sign_id)[0] != 0  # a reason is required

    code, output = yz(tmp_path, "templates", "add", "--account", "acme", "--type",
                      "verification", "login", "code ${code}")
    assert code == 0
    tpl = re.search(r"(SMS_\d+)", output).group(1)  # type: ignore[union-attr]
    assert yz(tmp_path, "templates", "approve", tpl)[0] == 0
    assert "approved" in yz(tmp_path, "templates", "list", "--account", "acme")[1]
    assert yz(tmp_path, "templates", "reject", tpl, "--reason", "unclear")[0] == 0
    assert "unclear" in yz(tmp_path, "templates", "list")[1]
    assert yz(tmp_path, "templates", "approve", "SMS_0")[0] == 1


def test_send_and_records(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    code, output = yz(tmp_path, "send", "13800138000", "+8613900139000", "--account", "demo",
                      "--sign", info["sign_name"], "--template",
                      info["templates"]["verification"], "--param", "code=0042")
    assert code == 0, output
    biz_id = re.search(r"BizId (\S+)", output).group(1)  # type: ignore[union-attr]
    code, output = yz(tmp_path, "records", "--account", "demo", "--biz-id", biz_id, "--json")
    rows = json.loads(output)
    assert [r["phone_number"] for r in rows] == ["13800138000", "13900139000"]
    # Content is masked for people unless the operator asks (records/masking.py).
    assert rows[0]["status"] == "waiting" and "****" in rows[0]["content"]
    assert all("0042" not in row["content"] for row in rows)  # (ids may hold the digits)
    assert rows[0]["content"].startswith("【驿站】")
    code, output = yz(tmp_path, "records", "--account", "demo", "--biz-id", biz_id, "--json",
                      "--unmask")
    assert "0042" in json.loads(output)[0]["content"]
    code, output = yz(tmp_path, "records", "--account", "demo", "--phone", "13800138000")
    assert code == 0 and "13800138000" in output and "1 in all" in output
    code, output = yz(tmp_path, "send", "123", "--account", "demo", "--sign", "驿站",
                      "--template", info["templates"]["verification"], "--param", "code=1")
    assert code == 1 and "isv.MOBILE_NUMBER_ILLEGAL" in output
    assert yz(tmp_path, "records", "--account", "demo", "--date", "yesterday")[0] == 1
    assert yz(tmp_path, "send", "13800138000", "--account", "demo", "--sign", "驿站",
              "--template", "SMS_1", "--param", "nonsense")[0] == 1


def test_tables_are_whole_when_not_on_a_terminal(tmp_path: Path) -> None:
    """Issue 14 point 17: piped output (CliRunner's is no terminal) keeps every column and
    every character of a row, however wide, instead of Rich's 80 columns."""
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    long_text = "您的订单${order}已发货，" + "物流信息请在应用内查看，" * 12 + "谢谢。"
    code, output = yz(tmp_path, "templates", "add", "--account", "demo", "long", long_text)
    code_ = re.search(r"template (\S+) added", output).group(1)  # type: ignore[union-attr]
    assert yz(tmp_path, "templates", "approve", code_)[0] == 0
    code, output = yz(tmp_path, "send", "13800138000", "--account", "demo", "--sign",
                      info["sign_name"], "--template", code_, "--param", "order=A1")
    assert code == 0, output
    biz_id = re.search(r"BizId (\S+)", output).group(1)  # type: ignore[union-attr]
    code, output = yz(tmp_path, "records", "--account", "demo", "--unmask")
    content = "【驿站】" + long_text.replace("${order}", "A1")
    [row] = [line for line in output.splitlines() if biz_id in line]
    assert content in row and "13800138000" in row and "waiting" in row
    assert len(row) > 200
    code, output = yz(tmp_path, "templates", "list")
    assert any(long_text in line and code_ in line for line in output.splitlines())


@pytest.mark.asyncio
async def test_deadletters_list_show_replay(tmp_path: Path) -> None:
    from tests.conftest import ManualClock
    from tests.storage.test_store import LEASE, make_messages
    from yizhan.app import open_store
    from yizhan.domain.ports import Retryable, SubmitOutcome
    from yizhan.settings import Settings

    store = open_store(Settings(data_dir=tmp_path))
    await store.migrate()
    clock = ManualClock()
    await make_messages(store, clock, 1)
    claims, _ = await store.claim_dispatch(clock.now(), 10, LEASE)
    await store.finish_submits([SubmitOutcome(claims[0], "sim", Retryable("bind refused"),
                                              dead=True)], clock.now())
    await store.close()
    result = await _in_thread(tmp_path, "deadletters", "list")
    assert result[0] == 0 and "bind refused" in result[1]
    result = await _in_thread(tmp_path, "deadletters", "show", "1")
    assert json.loads(result[1])["payload"]["message_id"] == claims[0].message.id
    assert (await _in_thread(tmp_path, "deadletters", "replay", "1"))[0] == 0
    assert (await _in_thread(tmp_path, "deadletters", "replay", "1"))[0] == 1
    assert "bind refused" not in (await _in_thread(tmp_path, "deadletters", "list"))[1]
    assert "bind refused" in (await _in_thread(tmp_path, "deadletters", "list", "--all"))[1]
    assert (await _in_thread(tmp_path, "deadletters", "show", "9"))[0] == 1


async def _in_thread(data_dir: Path, *args: str) -> tuple[int, str]:
    import asyncio
    return await asyncio.to_thread(yz, data_dir, *args)


def test_serve_help_documents_the_options() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    for option in ("--data-dir", "--host", "--port", "--config", "--database-url",
                   "YIZHAN_PORT"):
        assert option in result.output


def test_unknown_account_and_bad_settings_fail_clearly(tmp_path: Path) -> None:
    code, output = yz(tmp_path, "records", "--account", "ghost")
    assert code == 1 and "no account named 'ghost'" in output
    result = runner.invoke(app, ["accounts", "list", "--data-dir", str(tmp_path)],
                           env={"YIZHAN_PORT": "not-a-port"})
    assert result.exit_code == 1 and "invalid settings" in result.output


def test_api_and_dispatch_roles_in_two_processes_share_one_store(tmp_path: Path) -> None:
    env = {**os.environ, "YIZHAN_DATA_DIR": str(tmp_path), "YIZHAN_DISPATCH_POLL_SECONDS": "0.1",
           "YIZHAN_SIMULATOR_DELAY_SECONDS": "0.05"}
    info = json.loads(subprocess.run([sys.executable, "-m", "yizhan", "demo", "--json"],
                                     env=env, capture_output=True, text=True,
                                     check=True).stdout)
    dispatcher = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--role",
                                   "dispatch"], env=env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
    try:
        assert dispatcher.stdout is not None
        assert any("dispatch process running" in line for line, _ in zip(
            dispatcher.stdout, range(5), strict=False))
        with ServeProcess({**env, "YIZHAN_ROLE": "api"}) as api, httpx.Client(
                base_url=api.url, auth=(info["access_key_id"], info["access_key_secret"])) as c:
            sent = c.post("/v1/messages", json={
                "phone_numbers": ["13800138000"], "sign_name": info["sign_name"],
                "template_code": info["templates"]["verification"],
                "template_param": {"code": "7"}}).json()
            delivered = _poll(lambda: [m for m in c.get("/v1/messages", params={
                "biz_id": sent["biz_id"]}).json()["messages"] if m["status"] == "success"], 15)
            assert delivered[0]["error_code"] == "DELIVERED"
    finally:
        dispatcher.send_signal(15)
        assert dispatcher.wait(15) == 0


async def test_the_standalone_simulator_serves_smpp_until_stopped(tmp_path: Path) -> None:
    import asyncio
    import signal

    from tests.dispatch.test_smpp import Sink
    from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
    from yizhan.domain.ports import Accepted, SubmitRequest, SystemClock

    script = tmp_path / "carriers.toml"
    script.write_text('[numbers.13800000001]\ncode = "MK:0023"\ndelay = 0\n')
    entry = str(Path(sys.executable).parent / "yizhan")
    process = await asyncio.create_subprocess_exec(
        entry, "simulator", "--port", "0", "--script", str(script), "--system-id", "yz",
        "--password", "pw", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        sink = Sink()
        channel = SmppChannel(SmppConfig("sim", "127.0.0.1", port, "yz", password="pw"),
                              SystemClock())
        await channel.start(sink)
        await asyncio.wait_for(channel.bound.wait(), 10)
        result = await channel.submit(SubmitRequest(1, "+8613800000001", "【驿站】hi", 1))
        [receipt] = await sink.wait_for(1)
        await channel.stop()
        assert isinstance(result, Accepted) and receipt.code == "MK:0023"  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "stopped: 1 submits accepted, 1 receipts acknowledged" in rest.decode()


async def test_the_simulator_banner_prints_the_delay_that_applies(tmp_path: Path) -> None:
    """issue 14 point 25: a script's [default] delay applies, and the banner says so (it
    printed the --delay default, 0.2 s)."""
    import asyncio
    import signal

    script = tmp_path / "carriers.toml"
    script.write_text("[default]\ndelay = 0.3\n")
    entry = str(Path(sys.executable).parent / "yizhan")
    process = await asyncio.create_subprocess_exec(
        entry, "simulator", "--port", "0", "--script", str(script),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 10)
    assert "receipts after 0.3s" in line and "0.2s" not in line


async def test_the_standalone_simulator_serves_sgip_and_connects_back(tmp_path: Path) -> None:
    import asyncio
    import signal
    import socket

    from tests.dispatch.test_smpp import Sink
    from yizhan.dispatch.channels.sgip import SgipChannel, SgipConfig
    from yizhan.domain.ports import Accepted, SubmitRequest, SystemClock

    script = tmp_path / "carriers.toml"
    script.write_text('[numbers.13000000029]\ncode = "29"\ndelay = 0\n')
    with socket.socket() as sock:  # the channel's listener, told to the simulator
        sock.bind(("127.0.0.1", 0))
        listen = sock.getsockname()[1]
    entry = str(Path(sys.executable).parent / "yizhan")
    process = await asyncio.create_subprocess_exec(
        entry, "simulator", "--protocol", "sgip", "--port", "0", "--script", str(script),
        "--system-id", "yz", "--password", "pw",
        "--connect-back", f"127.0.0.1:{listen}:unicom:back:pw",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("SGIP simulator listening"), line
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        sink = Sink()
        channel = SgipChannel(SgipConfig(
            "sim", "127.0.0.1", port, "yz", password="pw", listen_host="127.0.0.1",
            listen_port=listen, listen_login_name="unicom", listen_password="back:pw"),
            SystemClock())
        await channel.start(sink)
        await asyncio.wait_for(channel.bound.wait(), 10)
        result = await channel.submit(SubmitRequest(1, "+8613000000029", "【驿站】hi", 1))
        [receipt] = await sink.wait_for(1)
        await channel.stop()
        assert isinstance(result, Accepted) and receipt.code == "MK:0001"  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "stopped: 1 submits accepted, 1 receipts acknowledged" in rest.decode()


async def test_the_standalone_simulator_serves_smgp_until_stopped(tmp_path: Path) -> None:
    import asyncio
    import signal

    from tests.simulator.test_smgw import Client
    from yizhan.dispatch.channels.smgp_pdu import Command, Deliver, MsgIdResp
    from yizhan.dispatch.channels.smgp_text import decode_report

    script = tmp_path / "carriers.toml"
    script.write_text('[numbers.13300000001]\ncode = "MK:0023"\ndelay = 0\n')
    entry = str(Path(sys.executable).parent / "yizhan")
    process = await asyncio.create_subprocess_exec(
        entry, "simulator", "--protocol", "smgp", "--port", "0", "--script", str(script),
        "--system-id", "SP000001", "--password", "s3cret",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("SMGP simulator listening on")
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        refused = await Client.connect(port)
        assert (await refused.login(secret="wrong")).status == 21
        client = await Client.connect(port)
        assert (await client.login()).status == 0
        client.submit("13300000001")
        resp, report = await client.read(), await client.read()
        assert isinstance(resp.body, MsgIdResp) and isinstance(report.body, Deliver)
        assert decode_report(report.body.msg_content).stat == "MK:0023"
        await client.answer(report)
        client.send(Command.ACTIVE_TEST)  # answered after the Deliver_Resp was read
        assert (await client.read()).command is Command.ACTIVE_TEST_RESP
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "stopped: 1 submits accepted, 1 receipts acknowledged" in rest.decode()
