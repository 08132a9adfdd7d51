"""Two real engines in one pool: the local socket and a second dockerd behind tcp:// with TLS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import dump, host_doc, service_manifest

pytestmark = pytest.mark.integration


def hosts(engine: Any, *, with_remote: bool = True) -> str:
    """Host near (this machine's engine, zone-a) and, with_remote, host far: `engine` over
    tcp:// with TLS, in zone-b."""
    near = host_doc("near", url="unix:///var/run/docker.sock", zone="zone-a")
    tls = {
        "caCert": str(engine.certs / "ca.pem"),
        "clientCert": str(engine.certs / "cert.pem"),
        "clientKey": str(engine.certs / "key.pem"),
    }
    far = host_doc("far", url=engine.url, zone="zone-b", address="127.0.0.1", tls=tls)
    return dump(near, far) if with_remote else dump(near)


def test_a_service_spreads_over_two_engines_and_drains_one_that_leaves(
    skiff: Skiff, second_engine: Any
) -> None:
    web = skiff.name("web")
    far = second_engine.client()

    def far_running() -> list[Any]:
        return far.containers.list(filters={"label": [f"skiff.cluster={skiff.cluster}"]})

    skiff.write("hosts.yaml", hosts(second_engine))
    skiff.write("web.yaml", service_manifest(web, 4))
    try:
        skiff.start()
        wait_for(
            lambda: len(skiff.running(web)) == 2 and len(far_running()) == 2,
            40,
            "two tasks on each engine (one per zone)",
        )
        status = {r["name"]: r for r in skiff.status()["resources"] if r["kind"] == "Host"}
        assert (status["far"]["zone"], status["far"]["connected"]) == ("zone-b", True)
        assert status["far"]["engineVersion"]

        skiff.write("hosts.yaml", hosts(second_engine, with_remote=False))
        wait_for(
            lambda: len(skiff.running(web)) == 4 and not far_running(),
            60,
            "the far engine drained onto the near one",
        )
        wait_for(
            lambda: all(r["name"] != "far" for r in skiff.status()["resources"]),
            20,
            "the far host gone from the pool",
        )
    finally:
        for c in far.containers.list(
            all=True, filters={"label": [f"skiff.cluster={skiff.cluster}"]}
        ):
            c.remove(force=True)


def test_a_host_reached_over_ssh_runs_the_service(skiff: Skiff, ssh_access: Any) -> None:
    web = skiff.name("web")
    skiff.write(
        "hosts.yaml",
        dump(host_doc("over-ssh", url=ssh_access.url, zone="zone-s")),
    )
    skiff.write("web.yaml", service_manifest(web, 2))
    skiff.env["PATH"] = ssh_access.path
    skiff.start()
    wait_for(lambda: len(skiff.running(web)) == 2, 40, "two tasks through the ssh host")
    host = skiff.resource("Host", "over-ssh")
    assert (host["connected"], host["url"]) == (True, ssh_access.url)
    wait_for(
        lambda: {t["host"] for t in skiff.resource("Service", web)["tasks"]} == {"over-ssh"},
        20,
        "the tasks in status, on the ssh host",
    )
    victim = skiff.running(web)[0]
    victim.kill()  # an event that reaches the daemon over the ssh event stream
    wait_for(
        lambda: (
            len(skiff.running(web)) == 2 and victim.id not in {c.id for c in skiff.running(web)}
        ),
        30,
        "a replacement started through ssh",
    )
