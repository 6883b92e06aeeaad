"""The data folder kept private, and the master key's source (issue 14 point 2).

The embedded store lives in the data folder: the folder is 0700 and everything in it 0600
(the SQLite file is made 0600 before SQLite opens it, so its -wal and -shm files, which
SQLite creates with the database's mode, are 0600 too); a start fixes looser modes.

`KeySource.load` finds the master key that seals secrets (`sealing.py`): the `master_key`
setting, else the key file (`master.key` in the data folder, or `master_key_file`). It checks
the key against the check value the store keeps, so a wrong or missing key stops the start
with one line instead of failing requests later. The key file is created only for a store
that has no sealed secrets yet, and only in the data folder (SQLite): a PostgreSQL store is
shared by processes on several machines, so a key that one process made for itself would
lock the others out; there the key must be given (docs/security.md).

Rotation (`SqlStore.rotate_master_key`) writes the new key beside the file first
(`master.key.new`), re-seals in one transaction, then renames it over the old one; `load`
finishes a rotation that stopped between the commit and the rename, and drops the new file
of one that stopped before the commit.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from yizhan.storage.sealing import MasterKeyError, Sealer, decode_key, encode_key, new_key

KEY_FILE = "master.key"
CHECK_ROW = "master_key_check"
CHECK_TEXT = "yizhan master key check"
SETTING = "the master_key setting (YIZHAN_MASTER_KEY)"


def secure_folder(folder: Path, database: Path | None) -> None:
    """Make `folder` (0700) and `database` in it (0600) if missing; tighten what exists."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)
    if database is not None and not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(mode)


def write_key_file(path: Path, key: bytes) -> None:
    """Write `key` to `path` (0600) atomically: a temporary file, fsync, rename, fsync of
    the folder."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> bytes:
    _tighten(path, 0o600)
    try:
        text = path.read_text()
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror}"
                             ) from exc
    return decode_key(text, f"the master key file {path}")


def pending_file(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def opens(sealer: Sealer, check: str) -> bool:
    try:
        return sealer.open(check, CHECK_ROW) == CHECK_TEXT
    except MasterKeyError:
        return False


@dataclass(frozen=True)
class KeySource:
    given: bytes | None = None
    """The key of the `master_key` setting: it wins over any file."""
    file: Path | None = None
    """The key file (None: no data folder, and no `master_key_file`)."""
    may_create: bool = False
    """Create the key file for a store without sealed secrets (SQLite in the data folder)."""

    def __post_init__(self) -> None:
        # Told before the store is touched (a PostgreSQL store is not migrated without it).
        if self.given is None and self.file is None:
            raise MasterKeyError(
                "no master key: a store outside the data folder (PostgreSQL) needs "
                f"{SETTING} or master_key_file, the same in every process; "
                "`yizhan keys new-master` prints a fresh key")

    def load(self, check: str | None) -> Sealer:
        """The sealer of the master key; `check` is the store's check value (None: the
        store has no sealed secrets yet). Raises `MasterKeyError` with what to do."""
        if self.given is not None:
            sealer = Sealer(self.given)
            if check is not None and not opens(sealer, check):
                raise MasterKeyError(f"{SETTING} does not open this store's secrets: give "
                                     "the key they were sealed under")
            return sealer
        assert self.file is not None  # __post_init__
        return self._from_file(self.file, check)

    def _from_file(self, path: Path, check: str | None) -> Sealer:
        pending = pending_file(path)
        if path.exists():
            sealer = Sealer(read_key_file(path))
            if check is None or opens(sealer, check):
                pending.unlink(missing_ok=True)  # a rotation that did not commit
                return sealer
        if check is not None and pending.exists():
            sealer = Sealer(read_key_file(pending))
            if opens(sealer, check):  # a rotation that committed: finish it
                os.replace(pending, path)
                _sync_folder(path.parent)
                return sealer
        if path.exists():
            raise MasterKeyError(f"the master key in {path} does not open this store's "
                                 "secrets: restore the key file they were sealed under")
        if check is not None:
            raise MasterKeyError(f"the master key file {path} is missing, and this store's "
                                 "secrets are sealed under a master key: restore the file "
                                 f"from your backup, or give its key in {SETTING}")
        if not self.may_create:
            raise MasterKeyError(f"the master key file {path} does not exist: "
                                 f"`yizhan keys new-master > {path}` makes one")
        key = new_key()
        write_key_file(path, key)
        return Sealer(key)

    def replace(self, key: bytes) -> Path | None:
        """Stage the rotation to `key`: write it beside the key file (None: the key is
        given by setting, the operator changes it). `commit` finishes it."""
        if self.given is not None or self.file is None:
            return None
        staged = pending_file(self.file)
        write_key_file(staged, key)
        return staged

    def commit(self, staged: Path | None) -> None:
        if staged is not None and self.file is not None:
            os.replace(staged, self.file)
            _sync_folder(self.file.parent)


__all__ = ["KEY_FILE", "KeySource", "MasterKeyError", "secure_folder"]
