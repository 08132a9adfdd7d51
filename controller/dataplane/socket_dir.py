"""Where the data plane's Unix sockets are named: a path short enough for any data directory.

A Unix socket's path must fit `sun_path` (108 bytes on Linux), and HAProxy allows less for a
`log` target (97). The admin socket and the request log live in the data directory's `haproxy`
folder, so a data directory a little over 60 characters long made every configuration fail
its check ("socket path ... too long"), and no load balancer could serve.

When the folder's own paths fit, they are used as they are. Otherwise the sockets are named
through a short alias: a symbolic link to the folder, in a directory private to this user,
`/tmp/skiff-<uid>/<12 hex digits of the folder's path>`. The name is the same at every start,
so a restarted daemon writes the same configuration text and HAProxy is not reloaded for it.
The private directory is checked before use, as tmux checks its own: a real directory (not a
link), owned by this user, open to nobody else; anything else there is refused, never
followed, since the admin socket controls the load balancers.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from controller.dataplane.base import DataPlaneError

MAX_SOCKET_PATH = 97  # HAProxy's limit for a `log` target; sun_path's own is 107 characters
ALIAS_ROOT = Path("/tmp")


def socket_dir(workdir: Path, longest_name: str, root: Path = ALIAS_ROOT) -> Path:
    """`workdir`, or a short alias of it, such that `<dir>/<longest_name>` fits."""
    if len(str(workdir / longest_name)) <= MAX_SOCKET_PATH:
        return workdir
    private = _private_dir(root / f"skiff-{os.getuid()}")
    target = str(workdir.resolve())
    alias = private / hashlib.sha256(target.encode()).hexdigest()[:12]
    if len(str(alias / longest_name)) > MAX_SOCKET_PATH:
        raise DataPlaneError(f"no socket path short enough under {root} for {workdir}")
    try:
        if os.readlink(alias) == target:
            return alias
        alias.unlink()  # ours (the directory is), pointing elsewhere: a stale alias
    except FileNotFoundError:
        pass
    except OSError as exc:  # not a link: not ours to follow
        raise DataPlaneError(f"socket alias {alias}: {exc.strerror or exc}") from exc
    alias.symlink_to(target, target_is_directory=True)
    return alias


def _private_dir(path: Path) -> Path:
    """`path`, made if missing, once it is a directory of this user's that nobody else opens."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise DataPlaneError(f"socket directory {path} is not a directory; refusing to use it")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DataPlaneError(
            f"socket directory {path} is not private to this user (owner {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):o}); refusing to use it"
        )
    return path
