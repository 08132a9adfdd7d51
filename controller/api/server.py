"""A small threaded HTTP server on the listen address.

GET /healthz (the process is alive), /readyz (manifests loaded, every host listed once, every
resource of the first load looked at once), /metrics (Prometheus text format): open to anyone
who reaches the port. Everything else (all of /v1) answers only a request whose Host names this
daemon (else 421) and that carries the bearer token (else 401): see auth.py.

Each connection has a thread of its own, so a slow client delays nobody else; but threads and
sockets are the whole daemon's, so at most `MAX_CONNECTIONS` are served at once (one more is
answered 503 at once and closed), and a client that sends or reads nothing for
`IO_TIMEOUT` seconds is dropped: clients that connect and wait cannot starve the daemon.

GET /v1/status (every resource, its tasks, revisions, recent
events and the manifest errors, as JSON).

POST (JSON bodies, `Content-Type: application/json`, so a web page cannot send them):
/v1/autoscaling-groups/NAME/desired-capacity {desiredCapacity},
/v1/autoscaling-groups/NAME/lifecycle-actions {instanceId, lifecycleHookName,
lifecycleActionResult}, /v1/autoscaling-groups/NAME/lifecycle-heartbeats {instanceId,
lifecycleHookName}, /v1/instances/ID/stop|start|terminate|reboot, /v1/instances/ID/protection
{protectedFromScaleIn}, /v1/batch/jobs (SubmitJob: {jobQueue, jobDefinition, jobName,
arrayProperties, dependsOn, parameters, shareIdentifier}), /v1/batch/jobs/ID/cancel|terminate
{reason}. They answer {"message": ...} (a submit also {jobId, jobName}), 200 when done, 4xx
when refused. GET /v1/batch/jobs?queue=Q&status=S, /v1/batch/jobs/ID, /v1/batch/jobs/ID/logs.

GET /v1/events?since=ID&kind=K&name=N&follow=false: the event stream, as Server-Sent Events
(`text/event-stream`): each kept action, EventBridge-shaped, with its id; Batch job state changes
are "Batch Job State Change" events carrying the job. Without `since` (or a Last-Event-ID
header) it starts with the next event; follow=false ends it once it has caught up.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST

from controller import __version__
from controller.api.auth import Access
from controller.autoscaling.sync import commands
from controller.batch.sync import commands as batch_commands
from controller.core.controller import Controller
from controller.core.desired import describe_errors
from controller.core.event_stream import follow
from controller.core.outcomes import CommandError, Retry

log = structlog.get_logger("skiff.api")

KIND_ORDER = {
    "Host": 0,
    "TaskDefinition": 1,
    "Service": 2,
    "LaunchTemplate": 3,
    "Instance": 4,
    "AutoScalingGroup": 5,
    "ScalingPolicy": 6,
    "Alarm": 7,
    "ScheduledAction": 8,
}
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # no token, no Host check
MAX_CONNECTIONS = 64  # served at once, event streams included
IO_TIMEOUT = 10.0  # seconds a client may leave one read or write of its connection waiting
MAX_BODY = 65536
_BUSY = json.dumps({"message": "the API is serving as many connections as it may; retry"})


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
        "store": {"bytes": ctl.store.size_bytes(), "rows": ctl.store.row_counts()},
    }


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _refuse_busy(conn: socket.socket) -> None:
    """503 without waiting: the accepting thread must never block on a client."""
    body = _BUSY.encode()
    head = (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Retry-After: 1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        conn.setblocking(False)
        conn.send(head.encode() + body)
    except OSError:
        pass


class ApiServer:
    def __init__(
        self,
        listen: str,
        ctl: Controller,
        ready: Callable[[], bool],
        manifests: str,
        access: Access,
        *,
        max_connections: int = MAX_CONNECTIONS,
        io_timeout: float = IO_TIMEOUT,
    ) -> None:
        host, _, port = listen.rpartition(":")
        api = self

        class Handler(BaseHTTPRequestHandler):
            timeout = io_timeout  # on every read and write of the connection

            def do_GET(self) -> None:
                api.guarded(self, api.handle)

            def do_POST(self) -> None:
                api.guarded(self, api.command)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are not actions; keep the action log clean

        self.ctl, self.ready, self.manifests, self.access = ctl, ready, manifests, access
        self.httpd = _BoundedServer((host or "127.0.0.1", int(port)), Handler, max_connections)
        self._stopped = threading.Event()  # ends the event streams
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self.ctl.actions.feed.nudge()
        self.httpd.shutdown()
        self.httpd.server_close()

    def guarded(
        self, req: BaseHTTPRequestHandler, serve: Callable[[BaseHTTPRequestHandler], None]
    ) -> None:
        """Only an admitted request is served; a bug answers 500 with its message (and is
        logged), never a dropped connection."""
        try:
            if self._admitted(req):
                serve(req)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away, or stopped reading or sending
        except Exception as exc:
            log.exception("api.failed", path=req.path)
            try:
                self._reply(req, 500, f"internal error: {exc}")
            except OSError:
                pass

    def _admitted(self, req: BaseHTTPRequestHandler) -> bool:
        """Health and metrics are open to GET; anything else needs the Host and the token."""
        path = req.path.split("?", 1)[0].rstrip("/") or "/"
        if req.command == "GET" and path in OPEN_PATHS:
            return True
        refused = self.access.refusal(
            req.headers.get_all("Host") or [], req.headers.get("Authorization")
        )
        if refused is None:
            return True
        log.warning(
            "api.refused",
            action="refuse",
            reason=refused.message,
            path=path,
            status=refused.status,
            client=req.client_address[0],
        )
        body = json.dumps({"message": refused.message}).encode()
        self._send(req, refused.status, body, "application/json", refused.headers)
        return False

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
        elif path == "/v1/events":
            self._events(req)
        elif path.startswith("/v1/batch/"):
            try:
                parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
                doc = self._batch(parts, req.path)
            except CommandError as exc:
                self._reply(req, exc.status, str(exc))
                return
            self._send(req, 200, json.dumps(doc, indent=1).encode(), "application/json")
        else:
            self._send(req, 404, b'{"message": "not found"}', "application/json")

    def _events(self, req: BaseHTTPRequestHandler) -> None:
        query = {
            k: v[-1]
            for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query).items()
        }
        # A reconnecting EventSource sends its first URL again, with the last id it saw.
        since = req.headers.get("Last-Event-ID") or query.get("since")
        if since is not None and not since.isdigit():
            self._reply(req, 400, f"since: {since!r} is not an event id (a whole number)")
            return
        stream = follow(
            self.ctl.store,
            self.ctl.actions.feed,
            int(since) if since is not None else self.ctl.store.last_event_id(),
            kind=query.get("kind"),
            name=query.get("name"),
            keep_going=query.get("follow", "true").lower() not in ("false", "0", "no"),
            stopped=self._stopped,
        )
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.send_header("Cache-Control", "no-cache")
        req.end_headers()
        try:
            for item in stream:
                if item is None:
                    req.wfile.write(b": keep-alive\n\n")
                else:
                    event_id, doc = item
                    frame = (
                        f"id: {event_id}\nevent: {doc['detail-type']}\ndata: {json.dumps(doc)}\n\n"
                    )
                    req.wfile.write(frame.encode())
                req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the reader went away, or stopped reading

    def _batch(self, parts: list[str], raw: str) -> dict[str, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(raw).query)
        match parts:
            case ["v1", "batch", "jobs"]:
                one = {k: v[-1] for k, v in query.items()}
                return batch_commands.list_jobs(self.ctl, one.get("queue"), one.get("status"))
            case ["v1", "batch", "jobs", job_id]:
                return batch_commands.describe_job(self.ctl, job_id)
            case ["v1", "batch", "jobs", job_id, "logs"]:
                return batch_commands.job_logs(self.ctl, job_id)
        raise CommandError("not found", 404)

    def command(self, req: BaseHTTPRequestHandler) -> None:
        try:
            body = self._body(req)
            parts = [
                urllib.parse.unquote(p) for p in req.path.split("?", 1)[0].strip("/").split("/")
            ]
            answer = self._dispatch(parts, body)
        except CommandError as exc:
            self._reply(req, exc.status, str(exc))
            return
        except Retry as exc:  # a host the command needs is not in the pool now
            self._reply(req, 503, str(exc))
            return
        if isinstance(answer, dict):
            self._send(req, 200, json.dumps(answer).encode(), "application/json")
        else:
            self._reply(req, 200, answer)

    @staticmethod
    def _body(req: BaseHTTPRequestHandler) -> dict[str, Any]:
        if req.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise CommandError("send the request as Content-Type: application/json", 415)
        try:
            length = int(req.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise CommandError("Content-Length is not a number") from exc
        if length < 0:
            raise CommandError("Content-Length is negative")
        if length > MAX_BODY:
            raise CommandError("the request body is too large", 413)
        try:
            body = json.loads(req.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise CommandError(f"the request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise CommandError("the request body must be a JSON object")
        return body

    def _dispatch(self, parts: list[str], body: dict[str, Any]) -> str | dict[str, Any]:
        ctl = self.ctl
        match parts:
            case ["v1", "batch", "jobs"]:
                return batch_commands.submit_job(ctl, body)
            case ["v1", "batch", "jobs", job_id, "cancel"]:
                return batch_commands.cancel_job(ctl, job_id, body.get("reason"))
            case ["v1", "batch", "jobs", job_id, "terminate"]:
                return batch_commands.terminate_job(ctl, job_id, body.get("reason"))
            case ["v1", "autoscaling-groups", name, "desired-capacity"]:
                return commands.set_desired_capacity(ctl, name, body.get("desiredCapacity"))
            case ["v1", "autoscaling-groups", name, "lifecycle-actions"]:
                return commands.complete_lifecycle_action(
                    ctl,
                    name,
                    str(body.get("instanceId")),
                    body.get("lifecycleHookName"),
                    body.get("lifecycleActionResult"),
                )
            case ["v1", "autoscaling-groups", name, "lifecycle-heartbeats"]:
                return commands.record_heartbeat(
                    ctl, name, str(body.get("instanceId")), body.get("lifecycleHookName")
                )
            case ["v1", "instances", iid, "stop"]:
                return commands.stop_instance(ctl, iid)
            case ["v1", "instances", iid, "start"]:
                return commands.start_instance(ctl, iid)
            case ["v1", "instances", iid, "terminate"]:
                return commands.terminate_instance(ctl, iid)
            case ["v1", "instances", iid, "reboot"]:
                return commands.reboot_instance(ctl, iid)
            case ["v1", "instances", iid, "protection"]:
                return commands.set_protection(ctl, iid, body.get("protectedFromScaleIn"))
        raise CommandError("not found", 404)

    def _reply(self, req: BaseHTTPRequestHandler, code: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self._send(req, code, body, "application/json")

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        ctype: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        for name, value in headers:
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
