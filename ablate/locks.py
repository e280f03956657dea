"""An exclusive lock across processes on one machine, held for a ``with`` block.

The lock file is opened without following a symbolic link, without truncating, created
owner-only (0600), and must be a regular file: a link or a FIFO planted at its path by
someone else can neither redirect the open to another file nor block it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ablate.errors import AblateError

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(path: Path) -> int:
    try:
        fd = os.open(path, _FLAGS, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AblateError(
                f"lock file {path} is a symbolic link, not ablate's; remove it (it may have "
                "been planted by someone else) and run again"
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AblateError(f"lock file {path} is not a regular file; remove it and run again")
    return fd


class LockHeld(Exception):
    """Another process holds the lock (``file_lock(..., wait=False)``)."""


def _still_at(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open at ``fd`` (not removed and replaced)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


@contextmanager
def file_lock(path: Path, wait: bool = True, remove: bool = False) -> Iterator[None]:
    """Hold ``path``'s lock (created if missing) for the block: wait until no other
    process holds it, or with ``wait`` false raise :class:`LockHeld` at once. With
    ``remove``, the lock file is deleted when the block ends (by its holder, so a process
    that opened it before then finds it gone once it gets the lock, and takes a new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(str(path)) from None
        if not remove or _still_at(fd, path):
            break
        os.close(fd)
    try:
        try:
            yield
        finally:
            if remove:
                path.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
