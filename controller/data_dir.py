"""The daemon's data directory is the daemon's alone: made private, refused when others may
write to it, and its store made readable by the daemon's user only.

The store holds what the API guards with its token (task definitions with their environment,
Batch jobs' parameters and output, every event), and the directory holds the token itself:
if other users could read the store, or plant a token file or a store of their own, the
token would guard nothing. So, before the store is opened:

- a missing directory is created with mode 0700;
- a directory that is not the daemon's user's (nor root's), or that its group or other users
  may write to, is refused (`PermissionError`): they could replace what is in it;
- the store's files (`skiff.db` and SQLite's `-wal` and `-shm` beside it, which take the
  database file's mode) are created 0600, and tightened to 0600 when an older Skiff left them
  readable by others.

This module opens no database and reads no file's content.
"""

from __future__ import annotations

import errno
import os
import stat

STORE_FILE = "skiff.db"
STORE_FILES = (STORE_FILE, f"{STORE_FILE}-wal", f"{STORE_FILE}-shm")


def prepare(data_dir: str) -> None:
    """Makes `data_dir` fit to hold the store and the token, or raises OSError saying why not."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    info = os.stat(data_dir)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{data_dir} is not a directory")
    if info.st_uid not in (os.geteuid(), 0):
        raise PermissionError(
            f"{data_dir} belongs to user id {info.st_uid}, not to the daemon's user "
            f"({os.geteuid()}): that user could replace its store or its API token"
        )
    if info.st_mode & 0o022:
        raise PermissionError(
            f"{data_dir} has mode {stat.S_IMODE(info.st_mode):04o}: other users may write to it "
            f"and replace its store or its API token; chmod go-w {data_dir}"
        )
    for name in STORE_FILES:
        _private_file(os.path.join(data_dir, name), create=name == STORE_FILE)


def _private_file(path: str, *, create: bool) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):  # none yet; a link the operator made
            return
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
