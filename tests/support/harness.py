"""The whole controller on the fake runtime with a fixed clock, for tests that drive it through
manifest files: `Harness`, and small manifests (`manifest`, `hosts_yaml`) most of them start from.

It holds no assertions about behaviour (only "did not converge") and imports no test module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.catalog import CATALOG, load_directory
from controller.core import labels as L
from controller.core.controller import Controller
from controller.core.settings import Settings
from controller.manifests.policy import BASELINE, Policy
from controller.runtime import ContainerInfo
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics
from tests.support.builders import FakeClock
from tests.support.documents import container, dump, host_doc, service_doc, td_doc


def web_docs(
    count: int = 5, command: str = "serve", image: str = "skiff/busybox:latest"
) -> list[dict[str, Any]]:
    """Task definition `web` (one container `app`, 64 MiB, running `command`) and its Service
    `web` of `count` tasks."""
    app = container("app", image=image, command=[command])
    return [td_doc("web", containerDefinitions=[app]), service_doc("web", desiredCount=count)]


def manifest(count: int = 5, command: str = "serve", image: str = "skiff/busybox:latest") -> str:
    """web_docs as the text of a manifest file."""
    return dump(*web_docs(count, command, image))


class Harness:
    """Manifests in a directory, a Controller over fake engines, and a clock that moves only
    when converge() moves it."""

    def __init__(
        self,
        root: Path,
        fake: FakeRuntime | None = None,
        store: Store | None = None,
        clock: FakeClock | None = None,
        engines: dict[str, FakeRuntime] | None = None,
        policy: Policy = BASELINE,
        healthy_after: float = 1.0,
    ) -> None:
        """`engines` maps Host names to their own fake engine; any other host is `fake`.
        `policy` is the daemon's --allow. `healthy_after` is its --healthy-after-seconds: a
        second, not ECS's 40, so a rollout takes a few rounds of the fake clock."""
        self.root = root
        self.root.mkdir(exist_ok=True)
        self.clock = clock or FakeClock()
        self.fake = fake or FakeRuntime(clock=self.clock)
        self.engines = engines or {}
        self.store = store or Store(":memory:")
        self.ctl = Controller(
            self.store,
            Metrics(),
            lambda name, spec: self.engines.get(name, self.fake),
            Settings(parallelism=2, policy=policy, healthy_after_seconds=healthy_after),
            clock=self.clock,
            monotonic=self.clock,
            catalog=CATALOG,
        )

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def load(self) -> None:
        self.ctl.apply_manifests(load_directory(str(self.root), self.ctl.settings.policy))

    def apply(self, name: str, text: str) -> None:
        """Saves a manifest, lets the daemon load it and converges."""
        self.write(name, text)
        self.load()
        self.converge()

    def converge(self, rounds: int = 30) -> None:
        """Resync and reconcile until a round makes no Docker write (the fake stops changing)."""
        last = -1
        for _ in range(rounds):
            self.ctl.resync()
            self.ctl.run_until_idle()
            writes = sum(len(f.writes()) for f in self.all_engines())
            if writes == last:
                return
            last = writes
            self.clock.advance(1)
        raise AssertionError("did not converge")

    def all_engines(self) -> list[FakeRuntime]:
        return [self.fake, *(e for e in self.engines.values() if e is not self.fake)]

    def running(self, owner: str = "web") -> list[ContainerInfo]:
        return [
            c
            for engine in self.all_engines()
            for c in engine.containers.values()
            if c.running and c.labels.get(L.NAME) == owner and L.is_managed(c.labels)
        ]

    def status(self, kind: str = "Service", name: str = "web") -> dict[str, object]:
        return self.ctl.status[(kind, name)].to_json()


def hosts_yaml(*names: str) -> str:
    """Hosts `names`, each on its own socket (the fake ignores it) and in zone-NAME."""
    return dump(*(host_doc(n, url=f"unix:///{n}.sock", zone=f"zone-{n}") for n in names))
