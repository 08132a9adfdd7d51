"""Finds and reads the manifest files below a root, within bounds, and says what it could not.

The rules (DESIGN.md, "Security stance": loaders bound what they read):
- Files named `*.yaml` or `*.yml` are read, in every directory below the root; names starting
  with a dot (files and directories) are skipped. The root may also be one file.
- Only regular files are read. A FIFO, socket or device with a manifest's name is an error of
  that path, and is never opened in a way that could block.
- A symbolic link to a file is read only when its real path stays inside the manifest root's
  real path. A link that leaves the root, dangles or loops is an error that names the link;
  its target is never opened, so nothing of it can show in an error. A symbolic link to a
  directory is never descended (whatever its name); the root itself may be a link.
- At most `max_bytes` of a file are read (one more, to know it is larger): a larger file is an
  error, not a truncated read.
- A directory that cannot be opened or listed (or the root itself, gone or unreadable) is
  reported as a `DirectoryProblem`, so the caller keeps what its files held instead of taking
  them for deleted.
- The names it reports (`shown`, `path`, `scope`) are text: a byte of a file or directory name
  that is not UTF-8 is written `\\xNN`, so a name reaches logs, metrics labels, the store and
  terminals as characters they can all encode (files are opened by their real names).

Directories and files are opened relative to their parent's descriptor with O_NOFOLLOW (and files
with O_NONBLOCK, then checked with fstat), so a path swapped for a link or a FIFO between the
listing and the read is refused, never followed or waited on. This module does not parse YAML.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from controller.manifests.base import quote

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_DIRECTORY_DEPTH = 64  # directories below the root; deeper ones are an error, not a crash

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ManifestFile:
    """A file with a manifest's name: its bytes, or (data None) why they were not read."""

    path: str  # the root joined with `shown`
    shown: str  # relative to the root (the root itself when it is a file): errors name this
    data: bytes | None
    problem: str = ""


@dataclass(frozen=True)
class DirectoryProblem:
    """A directory not read in full: resources from files below `scope` keep their last version."""

    shown: str  # as errors name it: `teams/shop/`, or the root as given
    scope: str  # relative directory whose files it covers; "." is the whole root
    problem: str


class _Refused(Exception):
    pass


def read_tree(root: str, max_bytes: int) -> Iterator[ManifestFile | DirectoryProblem]:
    """Every manifest file below root, in order (a directory's files, then its subdirectories,
    by name), and every directory that could not be read."""
    shown = text(root)
    try:
        mode = os.stat(root).st_mode
    except OSError as exc:
        yield DirectoryProblem(shown, ".", f"cannot read the manifest directory: {_reason(exc)}")
        return
    if stat.S_ISREG(mode):
        yield _read_root_file(root, max_bytes)
        return
    if not stat.S_ISDIR(mode):
        yield DirectoryProblem(shown, ".", f"the manifest directory is {_what(mode)}, not read")
        return
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        yield DirectoryProblem(shown, ".", f"cannot read the manifest directory: {_reason(exc)}")
        return
    try:
        walk = _Walk(root, _real_path(root_fd, root), root_fd, max_bytes)
        yield from walk.directory(root_fd, "", 0)
    finally:
        os.close(root_fd)


def text(name: str) -> str:
    """A name as the operating system gave it (bytes that are not UTF-8 smuggled in as lone
    surrogates), as text every encoder takes: those bytes written `\\xNN`."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _real_path(fd: int, path: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")  # the directory opened, not the name's now
    except OSError:
        return os.path.realpath(path)


@dataclass
class _Walk:
    root: str
    real_root: str
    root_fd: int
    max_bytes: int

    def directory(self, fd: int, rel: str, depth: int) -> Iterator[ManifestFile | DirectoryProblem]:
        try:
            with os.scandir(fd) as listing:
                entries = sorted(
                    (e.name, e.is_dir(follow_symlinks=False))
                    for e in listing
                    if not e.name.startswith(".")
                )
        except OSError as exc:
            yield self._problem(rel, f"cannot read this directory: {_reason(exc)}")
            return
        subdirectories = []
        for name, is_directory in entries:
            if is_directory:
                subdirectories.append(name)
            elif name.endswith(MANIFEST_SUFFIXES):
                found = self.file(fd, rel, name)
                if found is not None:
                    yield found
        for name in subdirectories:
            sub = os.path.join(rel, name)
            if depth >= MAX_DIRECTORY_DEPTH:
                yield self._problem(
                    sub, f"directories nested deeper than {MAX_DIRECTORY_DEPTH} levels: not read"
                )
                continue
            try:
                sub_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                yield self._problem(sub, f"cannot read this directory: {_reason(exc)}")
                continue
            try:
                yield from self.directory(sub_fd, sub, depth + 1)
            finally:
                os.close(sub_fd)

    def file(self, dir_fd: int, rel: str, name: str) -> ManifestFile | None:
        shown = text(os.path.join(rel, name))
        path = text(os.path.join(self.root, rel, name))
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                fd = self._open_link(dir_fd, rel, name)
                if fd is None:
                    return None  # a link to a directory: never descended
            elif stat.S_ISREG(mode):
                fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
            else:
                raise _Refused(f"not a regular file ({_what(mode)}): not read")
            try:
                data = _read_regular(fd, self.max_bytes)
            finally:
                os.close(fd)
        except _Refused as exc:
            return ManifestFile(path, shown, None, str(exc))
        except OSError as exc:
            return ManifestFile(path, shown, None, f"cannot read: {_reason(exc)}")
        return ManifestFile(path, shown, data)

    def _open_link(self, dir_fd: int, rel: str, name: str) -> int | None:
        """Opens the file a symbolic link names if it lies inside the root, without following
        any link on the way there (its path is resolved first, then opened one directory at a
        time from the root's descriptor)."""
        target = os.path.realpath(os.path.join(self.real_root, rel, name))
        if os.path.isdir(target):  # looks at the target's type only, reads nothing of it
            return None
        inside = os.path.relpath(target, self.real_root)
        if inside == os.pardir or inside.startswith(os.pardir + os.sep):
            raise _Refused(
                f"a symbolic link to {quote(target)}, outside the manifest directory: not read"
            )
        *parents, last = inside.split(os.sep)
        fds: list[int] = []
        try:
            at = self.root_fd
            for part in parents:
                at = os.open(part, _DIR_FLAGS, dir_fd=at)
                fds.append(at)
            fd = os.open(last, _FILE_FLAGS, dir_fd=at)
        except OSError as exc:
            raise _Refused(
                f"a symbolic link that does not lead to a file ({_reason(exc)}): not read"
            ) from None
        finally:
            for f in fds:
                os.close(f)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    def _problem(self, rel: str, message: str) -> DirectoryProblem:
        return DirectoryProblem(text(rel) + os.sep, text(rel), message)


def _read_root_file(path: str, max_bytes: int) -> ManifestFile:
    """The root given as one file: the user named it, so a link is followed."""
    shown = text(path)
    try:
        fd = os.open(path, _FILE_FLAGS & ~os.O_NOFOLLOW)
        try:
            data = _read_regular(fd, max_bytes)
        finally:
            os.close(fd)
    except _Refused as exc:
        return ManifestFile(shown, shown, None, str(exc))
    except OSError as exc:
        return ManifestFile(shown, shown, None, f"cannot read: {_reason(exc)}")
    return ManifestFile(shown, shown, data)


def _read_regular(fd: int, max_bytes: int) -> bytes:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise _Refused(f"not a regular file ({_what(mode)}): not read")
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise _Refused(
        f"larger than {max_bytes} bytes, the limit of a manifest file "
        "(--max-manifest-bytes): not read"
    )


def _what(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_stream(shown: str, stream: BinaryIO, max_bytes: int) -> ManifestFile:
    """A manifest from a stream (`skiff validate -` reads standard input), within `max_bytes`."""
    try:
        data = stream.read(max_bytes + 1)
    except OSError as exc:
        return ManifestFile(shown, shown, None, f"cannot read: {_reason(exc)}")
    if len(data) > max_bytes:
        return ManifestFile(
            shown,
            shown,
            None,
            f"larger than {max_bytes} bytes, the limit of a manifest file "
            "(--max-manifest-bytes): not read",
        )
    return ManifestFile(shown, shown, data)
