"""A Prometheus query API on 127.0.0.1 that answers as slowly as a test wants, and Alarm
manifests that query it: for tests of what a metrics collection does while it waits."""

from __future__ import annotations

import http.server
import json
import textwrap
import threading
from typing import Any


class SlowPrometheus:
    """Answers every instant query with 3. While `hold` is set, a query gets its answer only
    once the test sets `go`; meanwhile a space (JSON allows it before the document) every half
    second keeps the query from timing out, as a slow server that still answers does. Each held
    query releases `entered` once."""

    def __init__(self) -> None:
        self.hold = False
        self.entered = threading.Semaphore(0)
        self.go = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = {"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()  # no length: the answer ends when the connection does
                    if owner.hold:
                        owner.entered.release()
                        while not owner.go.wait(0.5):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                    self.wfile.write(json.dumps(body).encode())
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.go.set()
        self.server.shutdown()
        self.server.server_close()


def alarms(url: str, queries: list[str], prefix: str = "") -> str:
    """One Alarm per query, each on a Prometheus metric: a collection asks them all."""
    return "---\n".join(
        textwrap.dedent(f"""\
            apiVersion: skiff/v1
            kind: Alarm
            metadata: {{name: {prefix}backlog-{i}}}
            spec:
              metric: {{prometheusQuery: "{q}", prometheusUrl: "{url}"}}
              statistic: Maximum
              threshold: 10
              comparisonOperator: GreaterThanThreshold
            """)
        for i, q in enumerate(queries)
    )
