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


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Block until no other process holds ``path``'s lock (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
