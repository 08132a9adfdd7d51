"""`skiff down`'s decisions without an engine: what it plans to remove from an engine's listing
(only the cluster's, by its labels; ebs volumes kept unless --volumes), how it asks, and how it
refuses (no terminal, the daemon still running, a missing manifest directory)."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.cli import down
from controller.cli.main import main
from controller.runtime import ContainerSummary, EngineUnavailable
from controller.runtime.teardown import Inventory, Network, Volume

C = "blue"
OURS = {"skiff.managed-by": "skiff", "skiff.cluster": C}


def box(cid: str, **labels: str) -> ContainerSummary:
    return ContainerSummary(cid, f"name-{cid}", labels, "running", "Up")


def engine() -> Inventory:
    """A listing as `docker ps`/`volume ls`/`network ls` filtered on the cluster's labels would
    give, plus look-alikes the filter could let through by mistake."""
    return Inventory(
        containers=(
            box("sandbox", **OURS, **{"skiff.task": "t1", "skiff.container": "~pause"}),
            box(
                "task", **OURS, **{"skiff.task": "t1", "skiff.kind": "Service", "skiff.name": "web"}
            ),
            box("inst", **OURS, **{"skiff.instance": "i-0123456789abcdef0"}),
            box("job", **OURS, **{"skiff.job": "j1", "skiff.kind": "JobQueue"}),
            box("bare", **OURS),
            box("other", **{"skiff.managed-by": "skiff", "skiff.cluster": "green"}),
            box("mimic", **{"skiff.cluster": C}),  # not managed by Skiff
        ),
        volumes=(
            Volume("task-vol", {**OURS, "skiff.scope": "task"}),
            Volume("shared-vol", {**OURS, "skiff.scope": "shared"}),
            Volume("skiff-i-0123456789abcdef0-root"),  # Docker made it for the bind: no labels
            Volume("skiff-i-0000000000000000a-root"),  # recorded in the store
            Volume("stranger"),  # no labels, no instance's
            Volume("skiff-i-fffffffffffffffff-root", {"skiff.cluster": "green"}),
        ),
        networks=(
            Network("skiff-job-j1-1", OURS),
            Network("theirs", {"skiff.managed-by": "skiff", "skiff.cluster": "green"}),
        ),
    )


RECORDED = {"local": {"skiff-i-0000000000000000a-root", "skiff-i-fffffffffffffffff-root"}}


def names(items: list[down.Item]) -> list[tuple[str, str]]:
    return [(i.kind, i.name) for i in items]


def test_the_plan_removes_only_the_clusters_things_and_keeps_instance_and_shared_volumes() -> None:
    p = down.plan({"local": engine()}, C, RECORDED, volumes=False)
    assert names(p.remove) == [
        ("task", "name-task"),
        ("sandbox", "name-sandbox"),
        ("instance", "name-inst"),
        ("job", "name-job"),
        ("container", "name-bare"),
        ("task volume", "task-vol"),
        ("network", "skiff-job-j1-1"),
    ]
    assert names(p.keep) == [
        ("shared volume", "shared-vol"),
        ("instance volume", "skiff-i-0123456789abcdef0-root"),
        ("instance volume", "skiff-i-0000000000000000a-root"),
    ]


def test_with_volumes_the_kept_volumes_go_too_and_nothing_else_changes() -> None:
    kept = down.plan({"local": engine()}, C, RECORDED, volumes=False)
    p = down.plan({"local": engine()}, C, RECORDED, volumes=True)
    assert p.keep == []
    assert sorted(names(p.remove)) == sorted(names(kept.remove) + names(kept.keep))


def test_a_recorded_volume_counts_only_on_its_own_host() -> None:
    p = down.plan({"far": engine()}, C, RECORDED, volumes=True)
    assert "skiff-i-0000000000000000a-root" not in [i.name for i in p.remove]
    assert "skiff-i-0123456789abcdef0-root" in [i.name for i in p.remove]  # its container is here


def test_the_listing_counts_each_kind_and_names_each_thing() -> None:
    p = down.plan({"local": engine()}, C, RECORDED, volumes=False)
    text = down.render(p, C)
    assert text.splitlines()[0] == (
        "To remove from cluster 'blue': 1 task container, 1 awsvpc sandbox, "
        "1 instance container, 1 Batch job container, 1 other container, 1 task volume, "
        "1 network"
    )
    assert "  task             local  name-task  (Service/web)" in text
    assert "Kept (pass --volumes to remove them too): 2 instance volumes, 1 shared volume" in text


def test_an_empty_engine_plans_nothing() -> None:
    p = down.plan({"local": Inventory()}, C, {}, volumes=True)
    assert p.empty()
    assert down.render(p, C) == "Nothing to remove for cluster 'blue'."


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer", ["y\n", "yes\n", "Y\n"])
def test_a_yes_on_the_terminal_goes_ahead(answer: str) -> None:
    out = io.StringIO()
    assert down.confirm(False, Terminal(answer), out) is None
    assert out.getvalue() == "Remove these? [y/N] "


@pytest.mark.parametrize("answer", ["\n", "n\n", "no\n", "sure\n", ""])
def test_anything_but_yes_removes_nothing(answer: str) -> None:
    assert down.confirm(False, Terminal(answer), io.StringIO()) == "nothing was removed"


def test_without_a_terminal_it_refuses_and_says_to_pass_yes() -> None:
    out = io.StringIO()
    why = down.confirm(False, io.StringIO("y\n"), out)
    assert why is not None and "pass --yes" in why
    assert out.getvalue() == ""  # it did not ask


def test_yes_asks_nothing() -> None:
    out = io.StringIO()
    assert down.confirm(True, io.StringIO(""), out) is None
    assert out.getvalue() == ""


# --- the command, its engines faked ----------------------------------------------------------


class Engine:
    def __init__(self) -> None:
        self.removed: list[str] = []
        self.stuck: set[str] = set()  # containers whose removal fails

    def remove(self, cid: str) -> None:
        if cid in self.stuck:
            raise EngineUnavailable("Read timed out")
        self.removed.append(cid)

    def remove_volume(self, name: str) -> None:
        self.removed.append(name)

    def remove_network(self, name: str) -> None:
        self.removed.append(name)

    def close(self) -> None:
        pass


def args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parsed = argparse.ArgumentParser()
    sub = parsed.add_subparsers(dest="command")
    down.add_parser(sub)
    return parsed.parse_args(["down", "--data-dir", str(tmp_path), "--cluster", C, *extra])


@pytest.fixture
def faked(monkeypatch: pytest.MonkeyPatch) -> Engine:
    fake = Engine()

    def inventories(*_: Any) -> tuple[Any, Any, Any]:
        return {"local": engine()}, {"local": fake}, {}

    monkeypatch.setattr(down, "_inventories", inventories)
    return fake


def test_without_a_terminal_or_yes_the_command_removes_nothing_and_exits_1(
    tmp_path: Path, faked: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert down.run(args(tmp_path), stdin=io.StringIO("")) == 1
    assert faked.removed == []
    out, err = capsys.readouterr()
    assert "To remove from cluster 'blue'" in out
    assert "pass --yes" in err


def test_with_yes_the_command_removes_the_plan_containers_first(
    tmp_path: Path, faked: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert down.run(args(tmp_path, "--yes"), stdin=io.StringIO("")) == 0
    assert faked.removed[-2:] == ["task-vol", "skiff-job-j1-1"]
    assert faked.removed[-3] == "sandbox"  # after the containers that share its namespaces
    assert sorted(faked.removed[:4]) == ["bare", "inst", "job", "task"]
    assert "Removed 1 task container" in capsys.readouterr().out


def test_a_removal_that_fails_is_named_the_others_go_on_and_it_exits_1(
    tmp_path: Path, faked: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    faked.stuck = {"job"}
    assert down.run(args(tmp_path, "--yes"), stdin=io.StringIO("")) == 1
    assert "job" not in faked.removed and {"task", "inst", "task-vol"} <= set(faked.removed)
    err = capsys.readouterr().err
    assert "local: container name-job: Read timed out" in err and "run skiff down again" in err


def test_a_refused_answer_on_the_terminal_exits_1(tmp_path: Path, faked: Engine) -> None:
    assert down.run(args(tmp_path), stdin=Terminal("n\n")) == 1
    assert faked.removed == []


# --- refusals before any engine is asked -------------------------------------------------------


HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS t (x)")
print("open", flush=True)
sys.stdin.read()
"""


def test_the_running_daemon_is_found_by_its_open_store_and_down_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(down, "_inventories", lambda *_: pytest.fail("an engine was asked"))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "skiff.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        assert down.store_holder(str(tmp_path)) == holder.pid
        assert down.run(args(tmp_path, "--yes")) == 1
        err = capsys.readouterr().err
        assert f"is still running (process {holder.pid}" in err and "stop it first" in err
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert down.store_holder(str(tmp_path)) is None  # closed: the daemon has stopped


def test_a_data_dir_never_used_has_no_daemon(tmp_path: Path) -> None:
    assert down.store_holder(str(tmp_path / "none")) is None


def test_a_missing_manifest_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["down", "--manifests", str(tmp_path / "nope"), "--data-dir", str(tmp_path)])
    assert code == 2
    assert "is not a directory" in capsys.readouterr().err


def test_an_invalid_host_document_is_refused_before_any_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(down, "_inventories", lambda *_: pytest.fail("an engine was asked"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "hosts.yaml").write_text(
        "apiVersion: skiff/v1\nkind: Host\nmetadata: {name: far}\nspec: {url: 'ftp://x'}\n"
    )
    assert down.run(args(tmp_path, "--manifests", str(tmp_path / "m"), "--yes")) == 1
    err = capsys.readouterr().err
    assert "Host/far" in err and "nothing was removed" in err
