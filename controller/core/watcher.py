"""Watches the manifest directory and reloads it shortly after a change settles.

inotify (through watchdog) reports a saved edit at once; a short quiet period lets an editor
finish writing before the directory is read again. Where inotify is unavailable it polls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = structlog.get_logger("skiff.watcher")


class ManifestWatcher(FileSystemEventHandler):
    def __init__(self, root: str, reload: Callable[[], None], quiet: float = 0.1) -> None:
        self._root, self._reload, self._quiet = root, reload, quiet
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread = threading.Thread(target=self._loop, name="manifest-watch", daemon=True)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        self._changed.set()

    def start(self) -> None:
        try:
            observer: BaseObserver = Observer()
            observer.schedule(self, self._root, recursive=True)
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit
            log.warning("watcher.polling", reason=str(exc))
            observer = PollingObserver(timeout=0.5)
            observer.schedule(self, self._root, recursive=True)
            observer.start()
        self._observer = observer
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            self._changed.wait()
            if self._stop.is_set():
                return
            # Quiet period: wait until no new event arrives for `quiet` seconds.
            while True:
                self._changed.clear()
                if not self._changed.wait(self._quiet):
                    break
            if self._stop.is_set():
                return
            try:
                self._reload()
            except Exception:
                log.exception("watcher.reload_failed")
