"""`skiff run`: wires the controller to its sources (manifest watcher, Docker events, resync),
its workers and the API, and shuts them down cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading

import structlog

from controller.engine.controller import Controller, Settings
from controller.engine.hosts import RuntimeFactory
from controller.engine.watcher import ManifestWatcher
from controller.manifests.host import HostSpec
from controller.manifests.loader import load_directory
from controller.metrics import Metrics
from controller.runtime import ContainerRuntime
from controller.store import Store

log = structlog.get_logger("skiff")


def docker_runtime(name: str, spec: HostSpec) -> ContainerRuntime:
    from controller.runtime.docker_backend import DockerRuntime

    tls = spec.tls.to_wire() if spec.tls else None
    return DockerRuntime(spec.url, tls=tls)


class Daemon:
    def __init__(
        self,
        manifests: str,
        data_dir: str,
        listen: str,
        settings: Settings,
        runtime_factory: RuntimeFactory = docker_runtime,
    ) -> None:
        self.manifests, self.data_dir, self.listen, self.settings = (
            manifests,
            data_dir,
            listen,
            settings,
        )
        self.store = Store.in_data_dir(data_dir)
        self.metrics = Metrics()
        self.controller = Controller(self.store, self.metrics, runtime_factory, settings)
        self._stop = threading.Event()
        self._loaded = False
        self._threads: list[threading.Thread] = []
        self._last_errors: list[str] = []
        self._reload_lock = threading.Lock()  # one read-and-apply at a time: the last one wins

    def ready(self) -> bool:
        return self._loaded and self.controller.synced

    def reload(self) -> None:
        with self._reload_lock:
            self._reload()

    def _reload(self) -> None:
        result = load_directory(self.manifests)
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
            api = ApiServer(self.listen, self.controller, self.ready, self.manifests)
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
            manifests=self.manifests,
            data_dir=self.data_dir,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        self.controller.restore()
        # Watch before the first read: an edit saved while the daemon starts is seen.
        watcher = ManifestWatcher(self.manifests, self.reload)
        watcher.start()
        self.reload()
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
        while not self._stop.wait(self.settings.resync_seconds):
            try:
                self.controller.resync()
            except Exception:  # a store that cannot be read, or a bug: the next period retries
                log.exception("resync.failed", action="resync")
