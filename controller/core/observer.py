"""Watches one Docker engine: a cache of Skiff's containers kept fresh by events and resyncs.

The event stream (filtered on the managed-by label) is resumed with `since` after a break, so
nothing that happened meanwhile is missed; a periodic resync lists everything again and heals
whatever events could not tell. Each change names the owning resource so the engine can queue
that key: events only say where to look, never what to do.

An event marks its container dirty; a few refreshers inspect dirty containers side by side, one
refresh per container at a time, so a burst of events (create, start, die of many containers)
costs one inspect per container as it stands, and the stream is never read behind.

The fewest inspects: an event is used as it stands where it says enough. `destroy` drops the
container; `health_status: X` sets the health of a cached container. A `create` is deferred for
CREATE_GRACE seconds: the writer starts what it creates at once, and the `start` that follows
takes its place, so a task comes up with create, start and one inspect (the one after `start`,
for what no event carries: published host ports, address, start time, a start's error). A start
can outlast the grace on a busy engine (10 at once take seconds): the writer's runtime says
when a start begins and ends (`starting`, `started`), and a create whose start is under way or
done waits for its `start` event rather than being inspected. A container created and left
unstarted (one waiting on its dependencies) is inspected once its grace ends. `die` is
inspected (OOMKilled and the error are not in the event), and until that inspect answers the
container is cached `dying`, with the event's exit code and time: dockerd holds the inspect
until it has cleaned up after the container, and an owner that replaces what died need not
wait for that (an owner that counts what `docker ps` shows still counts it). `stop` and
`restart` are ignored, as every stop also sends `die` and every restart `start`. A resync leaves a
container a refresher will inspect anyway to that refresher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import structlog

from controller.core import labels as L
from controller.core.settings import Settings
from controller.runtime import (
    ContainerEvent,
    ContainerInfo,
    ContainerRuntime,
    NotFound,
    RuntimeFailure,
)

# Events that cannot change what the planner sees (health checks run as execs, etc.).
_IGNORED_PREFIXES = (
    "exec_",
    "attach",
    "resize",
    "top",
    "copy",
    "archive-path",
    "export",
    "commit",
    "kill",
    "stop",  # always with a `die`
    "restart",  # always with a `start`
)

REFRESHERS = 4  # inspects in flight per engine
RETRY_INSPECT = 1.0  # seconds before a failed inspect is tried again
CREATE_GRACE = 1.0  # seconds a `create` waits for its `start` before it is inspected on its own
HEALTH = "health_status"  # Docker's action: "health_status: healthy"

EVENT_STREAMS = 1  # the observer's own `docker events` connection, held open
RESYNCS = 1  # one resync lists at a time
POOL_MARGIN = 4  # calls outside the pools: a host's info, the API's logs, a worker's own call


def engine_pool_size(settings: Settings) -> int:
    """Connections to keep open to one engine: as many as the calls that can be in flight to
    it at once, so no call opens and closes a socket of its own. The workers' pool and the
    metrics pool (`parallelism` threads each), the queue's workers, the refreshers, the event
    stream and a resync, with a margin."""
    return (
        2 * settings.parallelism
        + settings.workers
        + REFRESHERS
        + EVENT_STREAMS
        + RESYNCS
        + POOL_MARGIN
    )


# (host, kind, name): the containers of resource kind/name on this host changed
OnChange = Callable[[str, str, str], None]

log = structlog.get_logger("skiff.observer")


def _merged(pending: str | None, action: str) -> str:
    """What a container's refresh does when `action` comes while `pending` waits: a destroy
    wins; a health event never replaces an inspect (which reads the health too)."""
    if pending is None or action == "destroy":
        return action
    if action.startswith(HEALTH) and not pending.startswith(HEALTH):
        return pending
    return pending if pending == "destroy" else action


def _health_marker(status: str) -> str:
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return "none"


class HostObserver:
    def __init__(
        self,
        host: str,
        runtime: ContainerRuntime,
        on_change: OnChange,
        on_reconnect: Callable[[], None] | None = None,
        cluster: str = L.DEFAULT_CLUSTER,
        on_down: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        on_lag: Callable[[float], None] | None = None,
        create_grace: float = CREATE_GRACE,
    ) -> None:
        """`on_lag` is told, for each event handled, the seconds from the engine's timestamp
        until its container was refreshed (its owner told): from its first event, its `create`
        included."""
        self.host, self.runtime, self._on_change = host, runtime, on_change
        self.cluster, self._selector = cluster, L.selector(cluster)
        self._on_reconnect = on_reconnect or (lambda: None)
        self._on_down = on_down or (lambda: None)
        self._clock = clock
        self._on_lag = on_lag or (lambda seconds: None)
        self._event_at: dict[str, float] = {}  # the oldest unhandled event per dirty container
        self.down_since: float | None = None  # when the engine stopped answering
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()  # one resync at a time
        # Containers an event named, with its action, waiting for a refresher; and the ones
        # being refreshed (never two refreshes of one container at once: no stale inspect wins).
        self._dirty: dict[str, str] = {}
        self._busy: set[str] = set()
        # Created containers waiting for their `start` (monotonic time their grace ends), in
        # the order they came: the grace is the same for all, so the first ends first.
        self._deferred: dict[str, float] = {}
        self._starting: set[str] = set()  # containers a writer's start call is under way for
        self._grace = create_grace
        self._work = threading.Condition()
        self._refreshers: list[threading.Thread] = []
        self._containers: dict[str, ContainerInfo] = {}
        self.version = 0  # grows with every change of the cache: readers may reuse what they built
        self._stop = threading.Event()
        self._stream: object | None = None
        self._thread: threading.Thread | None = None
        self.last_event: float | None = None
        self.synced_at: float | None = None  # when the last full list was taken
        self.up = False
        self.error = ""
        self.synced = False

    # --- the cache -------------------------------------------------------------------------------
    def snapshot(self) -> list[ContainerInfo]:
        with self._lock:
            return list(self._containers.values())

    def _put(self, info: ContainerInfo) -> None:
        if not L.in_cluster(info.labels, self.cluster):
            return
        with self._lock:
            self._containers[info.id] = info
            self.version += 1
        self._notify(info.labels)

    def _drop(self, container_id: str) -> None:
        with self._lock:
            gone = self._containers.pop(container_id, None)
            self.version += gone is not None
        if gone is not None:
            self._notify(gone.labels)

    def _notify(self, labels: dict[str, str]) -> None:
        if L.KIND in labels and L.NAME in labels:
            self._on_change(self.host, labels[L.KIND], labels[L.NAME])

    # --- resync ----------------------------------------------------------------------------------
    def resync(self) -> None:
        """Lists every managed container; inspects only new and changed ones. Raises on failure."""
        with self._sync_lock:
            self._resync()

    def _resync(self) -> None:
        try:
            listed_at = time.time() - 1  # events from here on are replayed by the next stream
            with self._lock:
                before = set(
                    self._containers
                )  # a container cached later may be newer than the list
            rows = self.runtime.list_containers(self._selector)
            with self._lock:
                cached = dict(self._containers)
            with self._work:  # a refresher will inspect these after the list: no need here
                waiting = set(self._dirty) | set(self._deferred) if self._watching() else set()
            for row in rows:
                known = cached.get(row.id)
                if row.id in waiting:
                    continue
                if known is None or known.fingerprint() != (row.state, _health_marker(row.status)):
                    self._refresh(row.id)
            for gone in before - {row.id for row in rows}:
                self._refresh(gone, destroyed=True)
            self.up, self.error, self.synced = True, "", True
            self.down_since = None
            self.synced_at = listed_at
        except RuntimeFailure as exc:
            self._went_down(exc)
            raise

    def _watching(self) -> bool:
        return bool(self._refreshers) and not self._stop.is_set()

    def _refresh(self, container_id: str, *, destroyed: bool = False) -> None:
        """Inspects the container and caches what it is now (drops it when it is gone, or
        `destroyed`), taking its turn after any refresh of the same container under way."""
        with self._work:
            self._work.wait_for(lambda: container_id not in self._busy)
            self._busy.add(container_id)
        try:
            if destroyed:
                self._drop(container_id)
            else:
                self._put(self.runtime.inspect(container_id))
        except NotFound:
            self._drop(container_id)
        finally:
            with self._work:
                self._busy.discard(container_id)
                self._work.notify_all()

    def touch(self, container_id: str) -> None:
        """Marks a container for a refresher though no event came: Docker reports a failed
        start with none, and the container's error would otherwise wait for the resync."""
        with self._work:
            self._deferred.pop(container_id, None)
            self._dirty.setdefault(container_id, "touch")
            self._work.notify_all()

    def handle(self, event: ContainerEvent) -> None:
        """Marks the event's container for a refresher; the latest action decides."""
        self.last_event = max(self.last_event or 0.0, event.time)
        if event.action.startswith(_IGNORED_PREFIXES):
            return
        cid, action = event.container_id, event.action
        with self._work:
            if action == "create":
                if cid not in self._dirty:  # its start (or anything else) came first
                    self._deferred.setdefault(cid, time.monotonic() + self._grace)
                self._event_at.setdefault(cid, event.time)
                self._work.notify_all()
                return
            self._deferred.pop(cid, None)
            dying = self._dying(event) if action == "die" and cid not in self._busy else None
            self._dirty[cid] = _merged(self._dirty.get(cid), action)
            self._event_at.setdefault(cid, event.time)
            self._work.notify_all()
        if dying is not None:
            self._notify(dying.labels)

    def _dying(self, event: ContainerEvent) -> ContainerInfo | None:
        """Caches a running container as `dying` from its `die` event (under `_work`, with no
        inspect of it under way: one that begins after the event waits for dockerd to let go of
        the container, and sees it exited). Its owner can replace it at once rather than after
        that inspect, which dockerd holds 40 to 150 ms on a busy engine."""
        with self._lock:
            known = self._containers.get(event.container_id)
            if known is None or not known.running:
                return None
            dying = replace(known, dying=True, exit_code=event.exit_code, finished_at=event.time)
            self._containers[dying.id] = dying
            self.version += 1
        return dying

    def _refresher(self) -> None:
        while True:
            with self._work:
                while True:
                    if self._stop.is_set():
                        return
                    wait = self._promote()
                    container_id = self._next_dirty()
                    if container_id is not None:
                        break
                    self._work.wait(wait)
                action = self._dirty.pop(container_id)
                event_at = self._event_at.pop(container_id, None)
            try:
                if not (action.startswith(HEALTH) and self._set_health(container_id, action)):
                    self._refresh(container_id, destroyed=action == "destroy")
                if event_at is not None:
                    self._on_lag(max(0.0, self._clock() - event_at))
            except RuntimeFailure as exc:
                log.warning("container.inspect_failed", host=self.host, error=str(exc))
                if not exc.transient:
                    continue  # asking again would get the same answer; the resync heals
                self._stop.wait(RETRY_INSPECT)  # a busy or restarting engine: ask again
                with self._work:
                    self._dirty.setdefault(container_id, action)
                    if event_at is not None:
                        self._event_at.setdefault(container_id, event_at)
                    self._work.notify_all()
            except Exception:  # a bug must not stop the refresher; the next resync heals
                log.exception("container.refresh_crashed", host=self.host, id=container_id)

    def _next_dirty(self) -> str | None:
        return next((c for c in self._dirty if c not in self._busy), None)

    def _promote(self) -> float | None:
        """Hands the created containers whose grace ended to the refreshers (under `_work`);
        the seconds until the next grace ends, or None when none waits. A container whose
        start is under way waits another grace for its `start` event."""
        now = time.monotonic()
        ended = []
        for cid, until in self._deferred.items():
            if until > now:
                break
            ended.append(cid)
        for cid in ended:
            del self._deferred[cid]
            if cid in self._starting:  # at the back: every deadline before it is earlier
                self._deferred[cid] = now + self._grace
            else:
                self._dirty.setdefault(cid, "create")
        first = next(iter(self._deferred.values()), None)
        return None if first is None else max(0.0, first - now)

    def starting(self, container_id: str) -> None:
        """A writer began starting the container: its `create` waits for the `start` event."""
        with self._work:
            self._starting.add(container_id)

    def started(self, container_id: str, ok: bool) -> None:
        """The writer's start call returned. Started (`ok`): its `start` event is on the stream
        (resumed after a break, not lost), and that event's inspect is its one, so the create no
        longer waits on a clock. Not started: a refused start is `touch`ed; an unanswered one
        waits out its grace."""
        with self._work:
            self._starting.discard(container_id)
            if ok:
                self._deferred.pop(container_id, None)

    def _set_health(self, container_id: str, action: str) -> bool:
        """Sets a cached container's health from its event, as a refresh does (one at a time
        per container); False when it is not cached, so that it is inspected."""
        health = action.partition(":")[2].strip()
        with self._work:
            self._work.wait_for(lambda: container_id not in self._busy)
            self._busy.add(container_id)
        try:
            with self._lock:
                known = self._containers.get(container_id)
            if known is None or health not in ("starting", "healthy", "unhealthy"):
                return False
            if known.health != health:
                self._put(replace(known, health=health))
            return True
        finally:
            with self._work:
                self._busy.discard(container_id)
                self._work.notify_all()

    # --- the event loop --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"observe-{self.host}", daemon=True)
        self._thread.start()
        self._refreshers = [
            threading.Thread(target=self._refresher, name=f"inspect-{self.host}", daemon=True)
            for _ in range(REFRESHERS)
        ]
        for t in self._refreshers:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        with self._work:
            self._work.notify_all()
        stream = self._stream
        if stream is not None:
            stream.close()  # type: ignore[attr-defined]
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.5
        since = self.synced_at if self.synced_at is not None else time.time() - 1
        first = True
        while not self._stop.is_set():
            try:
                stream = self.runtime.events(self.last_event or since, self._selector)
                self._stream = stream
                if not first or not self.synced:
                    self.resync()
                    self._on_reconnect()
                first, delay = False, 0.5
                try:
                    for event in stream:
                        self.handle(event)
                        if self._stop.is_set():
                            break
                finally:
                    stream.close()
                if self._stop.is_set():
                    return
                raise RuntimeFailure("event stream closed by the engine")
            except RuntimeFailure as exc:
                if self._stop.is_set():
                    return
                if self.up:
                    log.warning("host.disconnected", host=self.host, error=str(exc))
                self._went_down(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _went_down(self, exc: Exception) -> None:
        if self.up or self.down_since is None:
            self.down_since = self._clock()
            self._on_down()
        self.up, self.error = False, str(exc)

    def count(self) -> int:
        """How many containers the cache holds."""
        with self._lock:
            return len(self._containers)

    def safe_ping(self) -> bool:
        """Whether the engine answers a ping; one that does not is down, as a failed list."""
        try:
            self.runtime.ping()
            return True
        except RuntimeFailure as exc:
            log.warning("host.ping_failed", host=self.host, error=str(exc))
            self._went_down(exc)
            return False

    def safe_resync(self) -> bool:
        try:
            self.resync()
            return True
        except RuntimeFailure as exc:
            log.warning("host.resync_failed", host=self.host, error=str(exc))
            return False
