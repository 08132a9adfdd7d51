"""HAProxy's per-request log, read back: HAProxy sends one datagram per logged request to a
unix socket the data plane owns (haproxy_config writes `log <socket> format raw` and the line
`BACKEND TR WEIGHT`), and a thread here adds each to its target group's tally (a weighted
histogram, response_times.py) of target response times (HAProxy's Tr: from sending the
request to the target until its response headers began; ELB's TargetResponseTime) until the
daemon takes them.

Sampling: while a listener serves fewer than SAMPLING's first rate of requests a second,
HAProxy logs every request with weight 1; above it, 1 in N (16, then 128 above the next rate)
with weight N, drawn at random per request. A line adds its weight to the count and to its
bucket and weight x time to the sum, so the tallies are unbiased estimates of every request's
time at any rate, while HAProxy sends, and this thread reads, at most a few hundred lines a
second per listener (up to ~25k req/s). The thread's work per datagram is one split, two
int()s, a dict look-up (backend name to group, cached) and a bisect; memory is one tally per
group, so no rate leaves only the start of a period counted.

HAProxy never waits for this reader: a datagram that finds the socket's buffer full is
dropped by the kernel (rare at these rates). Requests no target answered (Tr -1: a fixed
response, a redirect, a failed connection) have no time.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from controller.dataplane.haproxy_commands import group_of
from controller.dataplane.response_times import ResponseTimes

_BUFFER = 1 << 20  # the socket's receive buffer, bytes: bursts wait there for the thread
_NAMES_KEPT = 4096  # backend names whose group is remembered (a configuration has fewer)


def parse(line: bytes, names: dict[bytes, str | None] | None = None) -> tuple[str, int, int] | None:
    """(target group, milliseconds, weight) from one logged line, or None (another backend,
    no time, not a line of ours). `names` caches backend names' groups."""
    fields = line.split()
    if len(fields) != 3:
        return None
    backend, tr, w = fields
    if names is None:
        group = group_of(backend.decode(errors="replace"))
    elif backend in names:
        group = names[backend]
    else:
        if len(names) >= _NAMES_KEPT:
            names.clear()
        group = names[backend] = group_of(backend.decode(errors="replace"))
    if group is None:
        return None
    try:
        ms, weight = int(tr), int(w)
    except ValueError:
        return None
    if ms < 0 or weight < 1:
        return None
    return group, ms, weight


class RequestLog:
    """The socket HAProxy logs requests to, and the tallies it has read since the last take."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._times: dict[str, ResponseTimes] = {}
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

    def take(self) -> dict[str, ResponseTimes]:
        """Each target group's weighted response times read since the last take."""
        with self._lock:
            times, self._times = self._times, {}
        return times

    def _read(self, sock: socket.socket) -> None:
        names: dict[bytes, str | None] = {}
        lock = self._lock
        while True:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                data = b""
            except OSError:
                return  # closed
            if not data:
                with lock:
                    if self._sock is not sock:
                        return
                continue
            parsed = parse(data, names)
            if parsed is None:
                continue
            group, ms, weight = parsed
            with lock:
                times = self._times.get(group)
                if times is None:
                    times = self._times[group] = ResponseTimes()
                times.add(ms, weight)
