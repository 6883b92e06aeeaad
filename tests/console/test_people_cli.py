"""`yizhan console-user` (cli/people.py) and the demo's console login (cli/demo.py): an
operator creates the first tenant admin; a made password is shown once, a typed one must be
long enough; only the argon2id hash is stored; the demo start makes `demo` once."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from typer.testing import CliRunner

from yizhan.cli.main import app
from yizhan.domain.people import Role
from yizhan.runtime import passwords
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

runner = CliRunner()


def yz(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def stored_hash(data_dir: Path, login: str) -> str:
    async def read() -> str:
        from yizhan.app import open_store
        store: SqlStore = open_store(Settings(data_dir=data_dir))
        try:
            await store.migrate()
            user = await store.console_user(login)
            assert user is not None
            return user.password_hash
        finally:
            await store.close()
    return asyncio.run(read())


def test_an_operator_creates_a_tenant_admin_whose_password_is_shown_once(
        tmp_path: Path) -> None:
    assert yz(tmp_path, "accounts", "create", "acme")[0] == 0
    code, shown = yz(tmp_path, "console-user", "add", "acme-admin", "--role", "tenant-admin",
                     "--account", "acme")
    assert code == 0, shown
    password = re.search(r"password\s+(\S+)\s+\(shown only now", shown).group(1)  # type: ignore[union-attr]
    hashed = stored_hash(tmp_path, "acme-admin")
    assert hashed.startswith("$argon2id$") and password not in hashed
    assert passwords.verify(hashed, password)
    code, listed = yz(tmp_path, "console-user", "list")
    assert code == 0 and "acme-admin" in listed and "tenant-admin" in listed
    assert password not in listed


def test_a_typed_password_must_be_long_and_a_tenant_role_needs_its_account(
        tmp_path: Path) -> None:
    code, shown = yz(tmp_path, "console-user", "add", "ops", "--role", "operator",
                     "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 10 characters" in shown
    code, shown = yz(tmp_path, "console-user", "add", "v", "--role", "tenant-viewer")
    assert code == 1 and "needs --account" in shown
    code, shown = yz(tmp_path, "console-user", "add", "ops", "--role", "operator",
                     "--password-stdin", stdin="a long enough one\n")
    assert code == 0 and "password " not in shown.replace("created", "")
    assert passwords.verify(stored_hash(tmp_path, "ops"), "a long enough one")
    code, shown = yz(tmp_path, "console-user", "add", "ops", "--role", "operator")
    assert code == 1 and "exists already" in shown
    assert yz(tmp_path, "console-user", "disable", "ops")[0] == 0
    assert "disabled" in yz(tmp_path, "console-user", "list")[1]


def test_the_demo_makes_its_console_login_once(tmp_path: Path) -> None:
    code, first = yz(tmp_path, "demo", "--json")
    assert code == 0 and '"console_login": "demo"' in first
    password = re.search(r'"console_password": "([^"]+)"', first).group(1)  # type: ignore[union-attr]
    assert passwords.verify(stored_hash(tmp_path, "demo"), password)
    operator = re.search(r'"operator_password": "([^"]+)"', first).group(1)  # type: ignore[union-attr]
    assert '"operator_login": "admin"' in first
    assert passwords.verify(stored_hash(tmp_path, "admin"), operator)
    code, again = yz(tmp_path, "demo", "--json")
    assert code == 0 and "console_password" not in again and "operator_password" not in again
    code, people = yz(tmp_path, "console-user", "list")
    assert re.search(r"admin\s+│?\s*operator", people), people
    assert Role.TENANT_ADMIN.tenant
