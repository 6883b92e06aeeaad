"""Starting on a store that cannot be opened: `serve` and the operator commands end with a
line or two saying what is wrong and what to do, and a non-zero exit (issue 14 point 16).
Against the real PostgreSQL of the tests (a role and a database that do not exist) and a
port nothing listens on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, TEST_MASTER_ENV
from tests.test_cli import runner
from yizhan.cli.main import app
from yizhan.storage.diagnosis import explain

KEY_ENV = TEST_MASTER_ENV
"""A store outside the data folder needs a master key (docs/security.md): these tests give one,
so that what they meet is the store's own problem."""


def _url(**change: object) -> str:
    return make_url(POSTGRES_URL).set(**change).render_as_string(  # type: ignore[arg-type]
        hide_password=False)


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _short_failure(output: str, *expected: str) -> None:
    lines = output.strip().splitlines()
    assert 1 <= len(lines) <= 2, output
    assert "Traceback" not in output
    for text in expected:
        assert text in output, output


def test_serve_with_a_role_that_does_not_exist(tmp_path: Path) -> None:
    """The real entry point, as the review ran it: one clear message, exit 1."""
    url = _url(username="yizhan_nobody")
    env = {**os.environ, "YIZHAN_DATA_DIR": str(tmp_path), **KEY_ENV}
    done = subprocess.run([sys.executable, "-m", "yizhan", "serve", "--port", "0",
                           "--database-url", url], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    _short_failure(done.stdout + done.stderr, 'role "yizhan_nobody" does not exist',
                   "docs/deployment.md")


def test_commands_with_an_unreachable_port_or_a_missing_database() -> None:
    port = _closed_port()
    result = runner.invoke(app, ["accounts", "list", "--database-url",
                                 _url(port=port, password="s3cret")], env=KEY_ENV)
    assert result.exit_code == 1
    _short_failure(result.output, f"127.0.0.1:{port}", "connection refused", "pg_isready")
    assert "s3cret" not in result.output
    result = runner.invoke(app, ["migrate", "--database-url", _url(database="yizhan_nodb")],
                           env=KEY_ENV)
    assert result.exit_code == 1
    _short_failure(result.output, 'database "yizhan_nodb" does not exist', "Create the database")


@pytest.mark.parametrize("url", ["postgres://u@h/d", "postgresql://u@127.0.0.1/d", "nonsense"])
def test_a_url_we_cannot_use(url: str) -> None:
    result = runner.invoke(app, ["migrate", "--database-url", url], env=KEY_ENV)
    assert result.exit_code == 1
    _short_failure(result.output, "is not a database URL Yizhan can use",
                   "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE")


def test_other_errors_keep_their_traceback() -> None:
    assert explain(ValueError("a bug"), POSTGRES_URL) is None
    assert explain(OSError(5, "I/O error"), "sqlite+aiosqlite:///x.db") is None
