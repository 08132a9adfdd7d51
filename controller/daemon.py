"""`skiff run`: wires the controller to its sources (manifest watcher, Docker events, resync),
its workers and the API, and shuts them down cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import functools
import os
import signal
import threading

import structlog

from controller import data_dir as private_data
from controller.api.auth import AccessError, ApiOptions, access_for
from controller.catalog import CATALOG, load_directory
from controller.core.controller import Controller
from controller.core.hosts import RuntimeFactory
from controller.core.observer import engine_pool_size
from controller.core.settings import Settings
from controller.core.watcher import ManifestWatcher
from controller.manifests.base import FieldError
from controller.manifests.host import HostSpec
from controller.manifests.loader import Limits, LoadResult
from controller.runtime import ContainerRuntime
from controller.store import Store
from controller.telemetry import Metrics

log = structlog.get_logger("skiff")


def docker_runtime(name: str, spec: HostSpec, pool_size: int = 16) -> ContainerRuntime:
    from controller.runtime.docker_backend import DockerRuntime

    tls = spec.tls.to_wire() if spec.tls else None
    return DockerRuntime(spec.url, tls=tls, pool_size=pool_size)


def _reload_failure(err: FieldError) -> bool:
    return err.path == () and err.message.startswith("reload failed: ")


class Daemon:
    def __init__(
        self,
        manifests: str,
        data_dir: str,
        listen: str,
        settings: Settings,
        runtime_factory: RuntimeFactory | None = None,
        api: ApiOptions | None = None,
    ) -> None:
        """`runtime_factory` None: Docker engines, each with a connection pool sized for the
        calls the settings let run at once (`engine_pool_size`)."""
        if runtime_factory is None:
            runtime_factory = functools.partial(
                docker_runtime, pool_size=engine_pool_size(settings)
            )
        self.manifests, self.data_dir, self.listen, self.settings = (
            manifests,
            data_dir,
            listen,
            settings,
        )
        self.api_options = api or ApiOptions()
        private_data.prepare(data_dir)  # OSError: not a directory fit for the store and token
        self.store = Store.in_data_dir(data_dir)
        self.metrics = Metrics()
        self.controller = Controller(
            self.store, self.metrics, runtime_factory, settings, catalog=CATALOG
        )
        self._stop = threading.Event()
        self._loaded = False
        self._threads: list[threading.Thread] = []
        self._last_errors: list[str] = []
        self._reload_lock = threading.Lock()  # one read-and-apply at a time: the last one wins

    def ready(self) -> bool:
        """The manifests are loaded, every host listed once and every resource of the first
        load looked at once: a job definition in them is registered, so SubmitJob takes it."""
        return self._loaded and self.controller.synced and not self.controller.unseen

    def reload(self) -> None:
        """Reads the manifests and applies them. Never raises: a failure keeps the last desired
        state, shows in `skiff status` and counts in skiff_manifest_reload_failures_total."""
        with self._reload_lock:
            try:
                self._reload()
            except Exception as exc:
                self.metrics.manifest_reload_failures.inc()
                log.exception("manifest.reload_failed", action="load", reason=str(exc)[:200])
                failure = FieldError(self.manifests, 0, (), f"reload failed: {type(exc).__name__}")
                earlier = [e for e in self.controller.manifest_errors if not _reload_failure(e)]
                self.controller.manifest_errors = [*earlier, failure]

    def _reload(self) -> None:
        limits = Limits(max_bytes=self.settings.max_manifest_bytes)
        try:
            result = load_directory(self.manifests, self.settings.policy, limits=limits)
        except Exception as exc:  # the loader reports its own failures; this is a last guard
            log.exception("manifest.load_failed", action="load", reason=str(exc)[:200])
            result = LoadResult.failed(self.manifests, f"reload failed: {type(exc).__name__}")
        if result.unreadable_dirs:
            self.metrics.manifest_reload_failures.inc()
        errors = [str(e) for e in result.errors]
        if errors != self._last_errors:
            for e in result.errors:
                log.error(
                    "manifest.invalid",
                    kind=e.kind,
                    name=e.name,
                    action="validate",
                    reason=e.message,
                    file=e.file,
                    document=e.document,
                    line=e.line,
                    column=e.column,
                    field=e.field,
                )
            self._last_errors = errors
        changed = self.controller.apply_manifests(result)
        if changed:
            log.info(
                "manifest.loaded",
                action="load",
                reason="directory changed",
                changed=sorted(f"{k}/{n}" for k, n in changed),
                errors=len(errors),
            )

    def run(self) -> int:
        from controller.api.server import ApiServer

        if not os.path.isdir(self.manifests):
            log.error("manifest.missing", reason=f"{self.manifests} is not a directory")
            return 2
        try:
            access = access_for(self.listen, self.api_options, self.data_dir)
        except AccessError as exc:
            log.error("api.refused_to_start", action="start", reason=str(exc))
            return 2
        try:
            api = ApiServer(self.listen, self.controller, self.ready, self.manifests, access)
        except (OSError, ValueError) as exc:
            log.error(
                "api.listen_failed", action="start", reason=f"cannot listen on {self.listen}: {exc}"
            )
            return 2
        api.start()
        log.info(
            "daemon.start",
            action="start",
            reason="skiff run",
            listen=api.address,
            api_token=access.source,
            api_hosts=sorted(access.hosts),
            manifests=self.manifests,
            data_dir=self.data_dir,
            allow=self.settings.policy.describe(),
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        self.controller.restore()
        # Watch before the first read: an edit saved while the daemon starts is seen.
        watcher = ManifestWatcher(self.manifests, self.reload)
        watcher.start()
        self.reload()
        self.controller.unseen = set(self.controller.desired)
        self.controller.enqueue_all()  # a restart changes no manifest; look at everything once
        self._loaded = True
        self.controller.start_observing()
        for i in range(self.settings.workers):
            self._spawn(f"worker-{i}", self._work)
        self._spawn("resync", self._resync)
        self._stop.wait()
        log.info("daemon.stop", action="stop", reason="signal")
        watcher.stop()
        self.controller.stop()
        for t in self._threads:
            t.join(timeout=10)
        api.stop()
        self.store.close()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def _spawn(self, name: str, target: object) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _work(self) -> None:
        while not self._stop.is_set():
            self.controller.process(timeout=1.0)

    def _resync(self) -> None:
        """Reads the manifests and lists the hosts again: heals what events missed, and what
        the watcher cannot see (a manifest directory deleted and made again loses its watch)."""
        while not self._stop.wait(self.settings.resync_seconds):
            self.reload()
            try:
                self.controller.resync()
            except Exception:  # a store that cannot be read, or a bug: the next period retries
                log.exception("resync.failed", action="resync")
