"""Who holds a TCP port: whether ``ablate ui`` can listen on one, and whether the server it
started is the one answering there (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import socket

from ablate.cli.servers import session_pids
from ablate.errors import AblateError


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now (``strerror``), or None when it can;
    an unknown host is a one-line error.

    Binds as the server will (``SO_REUSEADDR``), so a port left in TIME_WAIT counts as
    free and only a listening socket, on this address or on all of them, counts as taken.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AblateError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (Linux /proc/net/tcp and tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def owns_port(session: int, port: int) -> bool | None:
    """Whether a process of ``session`` (the server's own session) listens on ``port``;
    None where /proc cannot tell (not Linux)."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    inodes = _listening_inodes(port)
    for pid in session_pids(session):
        with contextlib.suppress(OSError):  # the process ended, or is not ours to inspect
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return True
    return False
