"""HAProxy's per-request log, read back: HAProxy sends one datagram per request to a unix
socket the data plane owns (haproxy_config writes `log <socket> format raw` and the line
`BACKEND TR`), and a thread here keeps each target group's target response times (HAProxy's
Tr: from sending the request to the target until its response headers began; ELB's
TargetResponseTime) until the daemon takes them.

HAProxy never waits for this reader: a datagram that finds the socket's buffer full is
dropped by the kernel, so under a flood the times are a sample, not every request. Requests
no target answered (Tr -1: a fixed response, a redirect, a failed connection) have no time.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from controller.dataplane.haproxy_commands import group_of

MAX_KEPT = 100_000  # times kept between two takes; later ones are dropped until the next
_BUFFER = 1 << 20  # the socket's receive buffer, bytes: bursts wait there for the thread


def parse(line: str) -> tuple[str, float] | None:
    """(target group, seconds) from one logged line, or None (another backend, no time)."""
    fields = line.split()
    if len(fields) != 2:
        return None
    group = group_of(fields[0])
    try:
        ms = int(fields[1])
    except ValueError:
        return None
    if group is None or ms < 0:
        return None
    return group, ms / 1000


class RequestLog:
    """The socket HAProxy logs requests to, and the times it has read since the last take."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._times: dict[str, list[float]] = {}
        self._kept = 0
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Binds the socket (again, after a close) and starts reading; idempotent."""
        with self._lock:
            if self._sock is not None:
                return
            self.path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
                sock.bind(str(self.path))
                sock.settimeout(1.0)  # the reader looks up once a second: closed?
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self._thread = threading.Thread(
                target=self._read, args=(sock,), name="haproxy-request-log", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            self.path.unlink(missing_ok=True)

    def take(self) -> dict[str, list[float]]:
        """Each target group's response times (seconds) read since the last take."""
        with self._lock:
            times, self._times, self._kept = self._times, {}, 0
        return times

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = b""
            except OSError:
                return  # closed
            if not data:
                with self._lock:
                    if self._sock is not sock:
                        return
                continue
            for line in data.decode(errors="replace").splitlines():
                self._keep(parse(line))

    def _keep(self, parsed: tuple[str, float] | None) -> None:
        if parsed is None:
            return
        with self._lock:
            if self._kept < MAX_KEPT:
                self._times.setdefault(parsed[0], []).append(parsed[1])
                self._kept += 1
