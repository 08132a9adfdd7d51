"""A small threaded HTTP server on the listen address.

GET /healthz (the process is alive), /readyz (manifests loaded and every host listed once),
/metrics (Prometheus text format), /v1/status (every resource, its tasks, revisions, recent
events and the manifest errors, as JSON).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from controller import __version__
from controller.engine.controller import Controller, describe_errors

KIND_ORDER = {"Host": 0, "TaskDefinition": 1, "Service": 2}


def status_document(ctl: Controller, ready: bool, manifests: str) -> dict[str, Any]:
    resources = []
    for key, st in sorted(
        ctl.snapshot().items(), key=lambda kv: (KIND_ORDER.get(kv[0][0], 9), kv[0][1])
    ):
        doc = st.to_json()
        doc["events"] = [
            {"at": e.at, "action": e.action, "reason": e.reason, "message": e.message}
            for e in ctl.store.events(key[0], key[1], limit=10)
        ]
        resources.append(doc)
    return {
        "version": __version__,
        "ready": ready,
        "manifests": manifests,
        "resources": resources,
        "errors": describe_errors(ctl.manifest_errors),
    }


class ApiServer:
    def __init__(
        self, listen: str, ctl: Controller, ready: Callable[[], bool], manifests: str
    ) -> None:
        host, _, port = listen.rpartition(":")
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are not actions; keep the action log clean

        self.ctl, self.ready, self.manifests = ctl, ready, manifests
        self.httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/healthz":
            self._send(req, 200, b"ok\n", "text/plain")
        elif path == "/readyz":
            ok = self.ready()
            self._send(req, 200 if ok else 503, b"ready\n" if ok else b"not ready\n", "text/plain")
        elif path == "/metrics":
            self._send(req, 200, self.ctl.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/v1/status":
            body = json.dumps(status_document(self.ctl, self.ready(), self.manifests), indent=1)
            self._send(req, 200, body.encode(), "application/json")
        else:
            self._send(req, 404, b'{"message": "not found"}', "application/json")

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
