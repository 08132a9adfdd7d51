"""A unix-socket proxy in front of a Docker engine that can hold back the event stream.

The daemon under test is pointed at the proxy (a Host with `url: unix://PROXY`); every
request passes through unchanged, except that while `paused` the bytes of `/events` responses
are kept in the proxy instead of being forwarded. `release()` sends what was held in one burst,
stale by then, and lets the stream flow again. Nothing is dropped or reordered: the daemon only
sees its events late, as it would behind a stalled connection. `connections` counts the
connections it accepted, as `ss` would count them on the engine's socket.
"""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

_CHUNK = 65536


class _Link:
    """One client connection and its upstream twin."""

    def __init__(self, proxy: EngineProxy, client: socket.socket) -> None:
        self.proxy, self.client = proxy, client
        self.upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.upstream.connect(proxy.upstream)
        self.events = False  # this connection carries a GET /events (a stream, for good)
        self.held = bytearray()

    def run(self) -> None:
        for target in (self._requests, self._responses):
            threading.Thread(target=target, daemon=True).start()

    def _requests(self) -> None:
        try:
            while data := self.client.recv(_CHUNK):
                line = data.split(b"\r\n", 1)[0]
                if line.startswith(b"GET ") and b"/events" in line:
                    self.events = True
                self.upstream.sendall(data)
        except OSError:
            pass
        self.close()

    def _responses(self) -> None:
        try:
            while not self.proxy.closed.is_set():
                ready, _, _ = select.select([self.upstream], [], [], 0.05)
                holding = self.events and self.proxy.paused.is_set()
                if not holding and self.held:
                    self.client.sendall(bytes(self.held))
                    self.held.clear()
                if not ready:
                    continue
                data = self.upstream.recv(_CHUNK)
                if not data:
                    break
                if holding:
                    self.held += data
                    self.proxy.count_held(data)
                else:
                    self.client.sendall(data)
        except (OSError, ValueError):  # ValueError: select on a socket closed meanwhile
            pass
        self.close()

    def close(self) -> None:
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class EngineProxy:
    def __init__(self, path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.path, self.upstream = path, upstream
        self.paused = threading.Event()
        self.closed = threading.Event()
        self.held_events = 0  # events kept back during pauses (JSON objects seen)
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._links: list[_Link] = []
        self._thread = threading.Thread(target=self._accept, name="engine-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> EngineProxy:
        self._thread.start()
        return self

    @property
    def connections(self) -> int:
        return len(self._links)

    def pause(self) -> None:
        """Holds back every /events byte from now on, on open and new streams alike."""
        self.paused.set()

    def release(self) -> None:
        """Sends what was held, in one burst, and lets the streams flow again."""
        self.paused.clear()

    def count_held(self, data: bytes) -> None:
        with self._lock:
            self.held_events += data.count(b'"Action"')

    def close(self) -> None:
        self.closed.set()
        self._server.close()
        for link in self._links:
            link.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                link = _Link(self, client)
            except OSError:
                client.close()
                continue
            self._links.append(link)
            link.run()
