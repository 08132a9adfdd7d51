"""The real daemon on a hostile or vanishing manifest directory (issue 12, items 4 to 7).

A FIFO, 5,000 nested lists, an alias bomb and a link to a secret outside the directory sit
beside a valid service: the daemon still starts, turns ready and runs the service, and shows
each bad file in `skiff status` without a byte of the secret. A manifest directory deleted
under a running daemon is a reported error, and the tasks keep running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import service_manifest

pytestmark = pytest.mark.integration

SECRET = "SKIFF-DAEMON-SECRET-91be"
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def errors_by_file(skiff: Skiff) -> dict[str, str]:
    return {e["file"]: e["message"] for e in skiff.status()["errors"]}


def test_a_fifo_deep_nesting_a_bomb_and_a_link_out_do_not_stop_the_daemon(
    skiff: Skiff, tmp_path: Path
) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 1))
    os.mkfifo(skiff.manifests / "pipe.yaml")
    (skiff.manifests / "deep.yaml").write_text("spec: " + "[" * 5000 + "]" * 5000 + "\n")
    (skiff.manifests / "bomb.yaml").write_text(BOMB + "apiVersion: *i\nkind: Service\n")
    secret = tmp_path / "shadow"
    secret.write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    (skiff.manifests / "shadow.yaml").symlink_to(secret)

    skiff.start()  # waits for /readyz: the first reload returned

    wait_for(lambda: len(skiff.running(web)) == 1, 60, "the valid service's task")
    errors = errors_by_file(skiff)
    assert errors["pipe.yaml"] == "not a regular file (a FIFO): not read"
    assert "nested deeper than 64 levels" in errors["deep.yaml"]
    assert "more than 100000 YAML nodes" in errors["bomb.yaml"]
    assert "outside the manifest directory" in errors["shadow.yaml"]
    assert SECRET not in skiff.get("/v1/status").decode()
    assert skiff.metric("skiff_manifest_errors", file="pipe.yaml") == 1
    assert skiff.proc is not None and skiff.proc.poll() is None


def test_deleting_the_manifest_directory_keeps_the_tasks_running(skiff: Skiff) -> None:
    web = skiff.name("web")
    skiff.write("web.yaml", service_manifest(web, 2))
    skiff.start("--resync", "2")
    wait_for(lambda: skiff.resource("Service", web).get("steadyState"), 60, "a steady service")
    before = {c.id for c in skiff.running(web)}
    assert len(before) == 2

    shutil.rmtree(skiff.manifests)

    root = str(skiff.manifests)
    wait_for(lambda: root in errors_by_file(skiff), 30, "the vanished directory in status")
    assert errors_by_file(skiff)[root] == (
        "cannot read the manifest directory: No such file or directory"
    )
    assert skiff.metric("skiff_manifest_reload_failures_total") >= 1
    skiff.ready()  # raises if the daemon died
    assert skiff.resource("Service", web)["desiredCount"] == 2
    assert {c.id for c in skiff.running(web)} == before

    # The directory comes back (a checkout, a restored volume): it is read again by the next
    # resync at the latest, though the watch on the old directory is gone with it.
    skiff.manifests.mkdir()
    skiff.write("web.yaml", service_manifest(web, 3))
    wait_for(lambda: len(skiff.running(web)) == 3, 30, "the returned directory's edit")
    assert root not in errors_by_file(skiff)
    assert before <= {c.id for c in skiff.running(web)}
