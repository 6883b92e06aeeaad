"""`yizhan channels list|check`: the plan serve would run, validated and bound once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.domain.ports import SystemClock
from yizhan.runtime.bind_slots import BindSlots
from yizhan.settings import Settings

runner = CliRunner()


def test_list_shows_the_built_in_channels_and_routes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["channels", "list", "--data-dir", str(tmp_path)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "channels from built-in default" in result.output
    for expected in ("cmcc", "cucc", "ctcc", "smpp-simulator", "1069001+ext",
                     "china_mobile", "required",
                     "china-mobile", "cmcc > cucc, ctcc", "international"):
        assert expected in result.output


def test_check_binds_every_channel_of_the_default(tmp_path: Path) -> None:
    result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "3 channel(s), 4 route(s): valid" in result.output
    assert result.output.count("bound in") == 3


def test_check_fails_on_a_channel_that_cannot_bind_and_warns_about_gaps(
        tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "far"\nkind = "smpp"\nhost = "127.0.0.1"\n'
                    'port = 1\nsystem_id = "x"\n\n[[route]]\ntypes = ["verification"]\n'
                    'channels = ["far"]\n')
    result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path),
                                 "--timeout", "0.5"], env={"YIZHAN_CHANNELS_FILE": str(path)},
                           terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "no route for: china_mobile international; china_mobile notification" \
        in result.output
    assert "not bound within 0.5s" in result.output


def test_a_wrong_channel_file_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "a"\nkind = "fax"\n')
    result = runner.invoke(app, ["channels", "list", "--data-dir", str(tmp_path)],
                           env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
    assert result.exit_code == 1
    assert "channel 'a' has kind 'fax'" in result.output


def test_check_reads_each_channels_code_table_and_retryable_statuses(tmp_path: Path) -> None:
    (tmp_path / "cmcc.codes.toml").write_text(
        '[codes."UNDELIV/001"]\ncode = "MK:0001"\n\n[codes.ENROUTE]\nstatus = "waiting"\n')
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "cmcc"\nkind = "smpp-simulator"\n'
                    'codes = "cmcc.codes.toml"\nretryable = ["RSYSERR", "0x401"]\n')
    result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path)],
                           env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "channel cmcc: 2 carrier code(s) from" in result.output
    assert "retries ESME_0x00000401, ESME_RSYSERR" in result.output
    assert "bound in" in result.output


def test_check_refuses_a_code_table_with_a_mistake(tmp_path: Path) -> None:
    (tmp_path / "cmcc.codes.toml").write_text('[codes.UNDELIV]\nstatus = "gone"\n')
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "cmcc"\nkind = "smpp-simulator"\n'
                    'codes = "cmcc.codes.toml"\n')
    result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path)],
                           env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
    assert result.exit_code == 1
    assert "channel 'cmcc'" in result.output and "status must be one of" in result.output


def test_check_takes_no_bind_that_running_dispatchers_hold(tmp_path: Path) -> None:
    """A channel with `max_binds`: the trial bind takes a free slot of the store's, and
    with every slot held by dispatchers it says so and binds nothing."""
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "carrier"\nkind = "smpp-simulator"\nmax_binds = 1\n')
    check = ["channels", "check", "--data-dir", str(tmp_path)]
    env = {"YIZHAN_CHANNELS_FILE": str(path)}
    first = runner.invoke(app, check, env=env, terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "bound in" in first.output

    async def hold() -> None:  # as a running dispatcher of this store does
        store = open_store(Settings(data_dir=tmp_path))
        await store.migrate()
        assert await BindSlots(store, SystemClock(), "carrier", 1).take()
        await store.close()

    asyncio.run(hold())
    second = runner.invoke(app, check, env=env, terminal_width=200)
    assert second.exit_code == 0, second.output
    assert "in use: every bind it allows (max_binds) is held by running" in second.output
    assert "bound in" not in second.output


def test_a_negative_bind_limit_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "carrier"\nkind = "smpp-simulator"\nmax_binds = -1\n')
    result = runner.invoke(app, ["channels", "list", "--data-dir", str(tmp_path)],
                           env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
    assert result.exit_code == 1
    assert "channel 'carrier'" in result.output and "max_binds must be" in result.output


def test_upstream_channels_are_listed_without_their_secrets_and_checked(
        tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channel]]\nname = "tx"\nkind = "tencent"\nsecret_id = "AKIDx"\n'
                    'secret_key = "very-secret-key"\nsdk_app_id = "1400006666"\n'
                    'template_id = "1"\n\n[[channel]]\nname = "tw"\nkind = "twilio"\n'
                    'account_sid = "AC1"\nauth_token = "very-secret-token"\n'
                    'from_number = "+15557122661"\n')
    env = {"YIZHAN_CHANNELS_FILE": str(path)}
    listed = runner.invoke(app, ["channels", "list", "--data-dir", str(tmp_path)], env=env,
                           terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "https://sms.tencentcloudapi.com" in listed.output and "tencent" in listed.output
    assert "very-secret" not in listed.output
    checked = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path)], env=env,
                            terminal_width=200)
    assert checked.exit_code == 0, checked.output
    assert checked.output.count("HTTP upstream: settings valid, not contacted") == 2


def test_check_logs_in_to_an_smgp_gateway_with_its_code_table(tmp_path: Path) -> None:
    """A channel file with an `smgp` channel (the docs' example's settings) against the
    standalone SMGP simulator: the built-in Status table under the channel's own file, and
    one Login with the channel's account and secret."""
    import re
    import subprocess
    import sys

    entry = str(Path(sys.executable).parent / "yizhan")
    gateway = subprocess.Popen(
        [entry, "simulator", "--protocol", "smgp", "--port", "0", "--system-id", "SP000001",
         "--password", "s3cret"], stdout=subprocess.PIPE, text=True)
    try:
        assert gateway.stdout is not None
        port = int(re.search(r":(\d+) ", gateway.stdout.readline()).group(1))  # type: ignore[union-attr]
        (tmp_path / "ctcc.codes.toml").write_text('[codes."UNDELIV/612"]\ncode = "MK:0001"\n')
        path = tmp_path / "channels.toml"
        path.write_text(
            '[[channel]]\nname = "ctcc"\nkind = "smgp"\ncarrier = "china_telecom"\n'
            f'host = "127.0.0.1"\nport = {port}\nclient_id = "SP000001"\nsecret = "s3cret"\n'
            'channel_code = "5901"\nservice_id = "MYZ0001"\ncodes = "ctcc.codes.toml"\n')
        result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path)],
                               env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "channel ctcc: 29 carrier code(s) from" in result.output
        assert "over the SMGP Status table" in result.output
        assert "bound in" in result.output
        path.write_text(path.read_text().replace('secret = "s3cret"', 'secret = "wrong"'))
        result = runner.invoke(app, ["channels", "check", "--data-dir", str(tmp_path),
                                     "--timeout", "1"],
                               env={"YIZHAN_CHANNELS_FILE": str(path)}, terminal_width=200)
        assert result.exit_code == 1 and "not bound within 1s" in result.output
    finally:
        gateway.terminate()
        gateway.wait(10)
