"""What an operator is told when the store cannot be opened: a line saying what is wrong and
a line saying what to do, instead of the driver's traceback.

Consumes the exception raised while the store is opened and migrated (`open_checked` in
`cli/common.py`, used by `serve` and by every command that opens the store). Recognises the
failures of configuration and connection: a URL that is not one we can use, a host that does not
resolve or does not answer, a refused connection, a role, password or database that
PostgreSQL refuses, a data folder we may not write. Anything else is a bug or a broken
disk and keeps its traceback (`explain` answers None). The URL is shown without its
password.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError

URL_FORM = "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
SETTING = "--database-url or YIZHAN_DATABASE_URL"
DOCS = 'docs/deployment.md, "PostgreSQL"'


def explain(exc: BaseException, url: str) -> str | None:
    """One or two lines for `exc`, raised while opening the store at `url`; None when it is
    not a failure of configuration or connection."""
    shown = _redacted(url)
    for cause in _chain(exc):
        if isinstance(cause, (ArgumentError, NoSuchModuleError, ModuleNotFoundError)) or (
                isinstance(cause, InvalidRequestError) and "async" in str(cause)):
            return (f"{shown} is not a database URL Yizhan can use.\n"
                    f"Write {URL_FORM} in {SETTING}, or leave it out for the embedded SQLite.")
        message = _postgres(cause, shown)
        if message is not None:
            return message
        if isinstance(cause, PermissionError):
            return (f"cannot open the store ({cause.filename}): permission denied.\n"
                    "Run as the user that owns the data folder, or choose another with "
                    "--data-dir.")
        message = None if url.startswith("sqlite") else _network(cause, shown)
        if message is not None:
            return message
    return None


def _postgres(cause: BaseException, shown: str) -> str | None:
    """A refusal by the PostgreSQL server itself (the driver's exception class names it)."""
    name = type(cause).__name__
    if name == "InvalidAuthorizationSpecificationError":  # role does not exist, pg_hba
        return (f"PostgreSQL refused {shown}: {cause}.\n"
                f"Create the role (psql commands in {DOCS}) or fix the user in {SETTING}.")
    if name == "InvalidPasswordError":
        return (f"PostgreSQL refused {shown}: {cause}.\n"
                f"Fix the password in {SETTING} (or the role's: ALTER ROLE ... PASSWORD).")
    if name == "InvalidCatalogNameError":
        return (f"PostgreSQL refused {shown}: {cause}.\n"
                f"Create the database (psql commands in {DOCS}) or fix its name in {SETTING}.")
    if name in ("CannotConnectNowError", "TooManyConnectionsError"):
        return f"PostgreSQL at {shown} does not take connections now: {cause}. Try again."
    return None


def _network(cause: BaseException, shown: str) -> str | None:
    """The server could not be reached at all."""
    if isinstance(cause, socket.gaierror):
        return (f"cannot reach the database at {shown}: its host name does not resolve.\n"
                f"Fix the host in {SETTING}.")
    if isinstance(cause, ConnectionRefusedError):
        return (f"cannot reach the database at {shown}: connection refused.\n"
                f"Is PostgreSQL running and listening on that host and port "
                f"(pg_isready -h HOST -p PORT)? Otherwise fix {SETTING}.")
    if isinstance(cause, (TimeoutError, ConnectionError, OSError)) and not isinstance(
            cause, FileNotFoundError):
        what = cause.strerror if isinstance(cause, OSError) and cause.strerror else "timed out"
        return (f"cannot reach the database at {shown}: {what}.\n"
                f"Check the network and the host and port in {SETTING}.")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy keeps the driver's error in `orig`, the driver
    adapters in `__cause__`."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        orig = getattr(item, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, item.__cause__,
                 item.__context__]


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)
