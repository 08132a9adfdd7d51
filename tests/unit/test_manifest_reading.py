"""What the loader refuses to read, and what a read error keeps (issue 12, items 4 to 7).

Each test builds a real manifest directory under tmp_path (FIFOs with os.mkfifo, real symbolic
links, alias bombs) and checks what a user would notice: an error naming the path (never a
traceback, never a hang, never the content of a file outside the directory), and, through the
controller on the fake runtime, that a read error keeps the resources instead of deleting them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.catalog import KINDS, load_directory
from controller.core.settings import Settings
from controller.daemon import Daemon
from controller.manifests.kinds import Kind
from controller.manifests.loader import LoadResult
from controller.runtime.fake import FakeRuntime
from tests.support.documents import container, host_doc, service_doc, td_doc, write
from tests.support.harness import Harness, manifest

SECRET = "SKIFF-TEST-SECRET-5d0c"


def load(root: Path, **options: Any) -> LoadResult:
    return load_directory(str(root), **options)


def errors_of(result: LoadResult) -> dict[str, str]:
    return {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors}


def loads_within(seconds: float, root: Path) -> LoadResult:
    """load_directory in a thread, so that a hang fails the test instead of blocking it."""
    out: list[LoadResult] = []
    worker = threading.Thread(target=lambda: out.append(load(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"load_directory did not return within {seconds} s"
    return out[0]


# --- item 5: only regular files -------------------------------------------------------------------


def test_a_fifo_named_like_a_manifest_is_an_error_and_never_blocks(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    os.mkfifo(tmp_path / "x.yaml")

    result = loads_within(10, tmp_path)

    assert errors_of(result) == {"x.yaml#0:(document)": "not a regular file (a FIFO): not read"}
    assert result.unreadable == {"x.yaml"}
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_a_fifo_given_as_the_root_is_an_error_and_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.yaml")

    result = load_directory(str(tmp_path / "x.yaml"))

    assert [e.message for e in result.errors] == ["the manifest directory is a FIFO, not read"]


def test_a_fifo_with_another_name_is_ignored_like_any_other_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")

    assert loads_within(10, tmp_path).errors == []


# --- item 6: symbolic links -----------------------------------------------------------------------


@pytest.fixture
def secret_outside(tmp_path: Path) -> Path:
    """A file outside the manifest directory whose content must never show."""
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text(f"root:{SECRET}:19000:0:99999:7:::\n{SECRET}: [\n")
    return secret


def test_a_link_to_a_file_outside_is_refused_and_its_content_never_shows(
    tmp_path: Path, secret_outside: Path
) -> None:
    root = tmp_path / "m"
    write(root, "web.yaml", td_doc("web"))
    (root / "shadow.yaml").symlink_to(secret_outside)
    (root / "sub").mkdir()
    (root / "sub" / "relative.yml").symlink_to(Path("..") / ".." / "outside" / "shadow")

    result = load(root)

    assert SECRET not in repr(result)
    assert set(errors_of(result)) == {"shadow.yaml#0:(document)", "sub/relative.yml#0:(document)"}
    for err in result.errors:
        assert "symbolic link" in err.message and "outside the manifest directory" in err.message
    assert result.unreadable == {"shadow.yaml", "sub/relative.yml"}
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_validate_prints_no_byte_of_a_linked_file_outside(
    tmp_path: Path, secret_outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    root = tmp_path / "m"
    root.mkdir()
    (root / "shadow.yaml").symlink_to(secret_outside)

    assert main(["validate", str(root)]) == 1
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert "shadow.yaml: document 0: (document): a symbolic link to" in out.err


def test_a_link_to_a_file_inside_the_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path, "releases/v2.yaml.txt", td_doc("web"))
    (tmp_path / "current.yaml").symlink_to(Path("releases") / "v2.yaml.txt")

    result = load(tmp_path)

    assert result.errors == []
    assert result.resources[("TaskDefinition", "web")].source == "current.yaml"


def test_names_that_are_not_utf8_are_shown_as_text_and_metrics_still_serve(
    tmp_path: Path,
) -> None:
    """A file named with bytes that are not UTF-8 reached the skiff_manifest_errors{file}
    label as it was, and every /metrics scrape failed with a 500 (surrogates not allowed)."""
    root = os.fsencode(tmp_path)
    with open(os.path.join(root, b"bad\xff.yaml"), "w") as f:
        f.write("kind: X\n")
    write(tmp_path, "team/web.yaml", td_doc("web"))
    os.rename(os.path.join(root, b"team"), os.path.join(root, b"team\xfe"))

    result = load(tmp_path)

    assert {e.file for e in result.errors} == {"bad\\xff.yaml"}
    assert result.resources[("TaskDefinition", "web")].source == "team\\xfe/web.yaml"
    h = Harness(tmp_path / "unused")
    h.ctl.apply_manifests(result)
    assert b'skiff_manifest_errors{file="bad\\\\xff.yaml"}' in h.ctl.metrics.exposition()


def test_a_dangling_or_looping_link_is_an_error_naming_the_link(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nothing-here")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")

    result = load(tmp_path)

    assert set(errors_of(result)) == {"gone.yaml#0:(document)", "loop.yaml#0:(document)"}
    assert result.unreadable == {"gone.yaml", "loop.yaml"}
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_links_to_directories_are_never_descended(tmp_path: Path, secret_outside: Path) -> None:
    root = tmp_path / "m"
    write(root, "teams/web.yaml", td_doc("web"))
    write(tmp_path / "outside", "elsewhere.yaml", td_doc("elsewhere"))
    (root / "again").symlink_to(root / "teams")
    (root / "outside.yaml").symlink_to(tmp_path / "outside")
    (root / "up").symlink_to(root)

    result = load(root)

    assert result.errors == []
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_the_root_may_itself_be_a_link(tmp_path: Path) -> None:
    write(tmp_path / "real", "web.yaml", td_doc("web"))
    write(tmp_path / "real", "current.yaml", td_doc("api"))
    (tmp_path / "link").symlink_to(tmp_path / "real")

    result = load(tmp_path / "link")

    assert result.errors == []
    assert set(result.resources) == {("TaskDefinition", "web"), ("TaskDefinition", "api")}


# --- item 7: sizes, aliases, nesting --------------------------------------------------------------

BOMB = "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB


@pytest.mark.parametrize(
    "where",
    [
        "apiVersion: *i\nkind: Host\nmetadata: {name: h}\nspec: {url: 'unix:///x'}\n",
        "apiVersion: skiff/v1\nkind: *i\nmetadata: {name: h}\nspec: {url: 'unix:///x'}\n",
        "apiVersion: skiff/v1\nkind: TaskDefinition\nmetadata: {name: web}\nspec:\n"
        "  containerDefinitions: [{name: a, image: busybox, memory: 64, cpu: *i}]\n",
        "apiVersion: skiff/v1\nkind: Host\nmetadata: {name: h}\nspec: {url: 'unix:///x'}\n"
        "? *i\n: boom\n",
    ],
    ids=["apiVersion", "kind", "cpu", "mapping-key"],
)
def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path, where: str) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "bomb.yaml", BOMB + where)
    assert len((tmp_path / "bomb.yaml").read_bytes()) < 1000  # a few hundred bytes

    result = loads_within(20, tmp_path)

    (err,) = result.errors
    assert (err.file, err.document, err.field) == ("bomb.yaml", 0, "(document)")
    assert "more than 100000 YAML nodes once its aliases are expanded" in err.message
    assert result.unreadable == {"bomb.yaml"}
    assert set(result.resources) == {("TaskDefinition", "web")}


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "loop.yaml", "apiVersion: skiff/v1\nkind: Host\nspec: &s {url: [*s]}\n")

    (err,) = load(tmp_path).errors

    assert "an alias used inside the node it names" in err.message


def test_5000_nested_lists_are_an_error_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "deep.yaml", td_doc("ok"), "spec: " + "[" * 5000 + "]" * 5000 + "\n")

    result = load(tmp_path)

    (err,) = result.errors
    assert (err.file, err.document) == ("deep.yaml", 1)
    assert "nested deeper than 64 levels" in err.message
    assert set(result.resources) == {("TaskDefinition", "web"), ("TaskDefinition", "ok")}


def test_nesting_built_from_aliases_is_capped_too(tmp_path: Path) -> None:
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 2000))
    write(tmp_path, "chain.yaml", chain)

    (err,) = load(tmp_path).errors

    assert "nested deeper than 64 levels once its aliases are expanded" in err.message


def test_aliases_within_the_caps_still_work(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: TaskDefinition\nmetadata: {name: web}\nspec:\n"
        "  containerDefinitions:\n"
        "    - {name: a, image: busybox, memory: 64, environment: &env [{name: X, value: '1'}]}\n"
        "    - {name: b, image: busybox, memory: 64, environment: *env}\n"
    )
    write(tmp_path, "td.yaml", text)

    assert load(tmp_path).errors == []


def test_a_file_over_the_size_limit_is_an_error_and_keeps_its_resources(tmp_path: Path) -> None:
    path = write(tmp_path, "web.yaml", td_doc("web"))
    size = path.stat().st_size

    assert load(tmp_path, limits=_limits(max_bytes=size)).errors == []
    result = load(tmp_path, limits=_limits(max_bytes=size - 1))
    (err,) = result.errors
    assert err.message == (
        f"larger than {size - 1} bytes, the limit of a manifest file (--max-manifest-bytes): "
        "not read"
    )
    assert result.unreadable == {"web.yaml"}


def test_a_huge_file_is_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "huge.yaml", "wb") as f:
        f.truncate(8 * 1024**3)  # sparse: 8 GiB that take no disk
    read = _count_reads(monkeypatch)

    (err,) = load(tmp_path).errors

    assert err.message.startswith("larger than 1048576 bytes")
    assert sum(read) <= 1024 * 1024 + 1


def test_the_size_limit_is_an_option_of_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    write(tmp_path, "web.yaml", td_doc("web"))

    assert main(["validate", str(tmp_path), "--max-manifest-bytes", "10"]) == 1
    assert "web.yaml: document 0: (document): larger than 10 bytes" in capsys.readouterr().err
    assert main(["validate", str(tmp_path), "--max-manifest-bytes", "100000"]) == 0


# --- item 7: no traceback, no echo ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("apiVersion", "v" * 10_000),
        ("kind", "K" * 10_000),
        ("cpu", "x" * 3000 + " vCPU"),
        ("unknown", "u" * 10_000),
    ],
    ids=["apiVersion", "kind", "cpu", "unknown-field"],
)
def test_a_long_value_is_shown_by_its_start_and_length(
    tmp_path: Path, field: str, value: str
) -> None:
    doc = td_doc("web", containerDefinitions=[container()])
    if field == "cpu":
        doc["spec"]["cpu"] = value
    if field in ("apiVersion", "kind"):
        doc[field] = value
    if field == "unknown":
        doc["spec"][value] = 1
    write(tmp_path, "web.yaml", doc)

    result = load(tmp_path)

    assert result.errors
    for err in result.errors:
        assert value[:61] not in str(err)
    shown = [e for e in result.errors if f"({len(value)} characters)" in str(e)]
    assert shown, errors_of(result)
    assert value[:60] in str(shown[0])


def test_quote_keeps_short_values_and_cuts_long_ones() -> None:
    from controller.manifests.base import quote

    assert quote("web") == "'web'"
    assert quote(None) == "None"
    assert quote("x" * 100) == f"{'x' * 60!r}... (100 characters)"
    nested: list[Any] = [1]
    for _ in range(100):
        nested = [nested, nested]  # 2**100 leaves when walked in full
    assert len(quote(nested)) < 100
    assert quote(16**5000) == "a number of 5001 hexadecimal digits"


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: skiff/v1\nkind: Host\nspec: {weight: " + "9" * 5000 + "}\n",
        "when: 2024-02-31\n",
        "x: !!float nope\n",
        "? " + "[" * 60 + "]" * 60 + "\n: 1\n",
    ],
    ids=["5000-digit-integer", "impossible-date", "not-a-float", "list-as-key"],
)
def test_a_scalar_yaml_cannot_build_is_an_error_of_its_file(tmp_path: Path, text: str) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "x.yaml", text)

    result = load(tmp_path)

    assert [(e.file, e.document) for e in result.errors] == [("x.yaml", 0)]
    assert result.unreadable == {"x.yaml"}


def test_a_validator_that_raises_is_an_error_of_its_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(spec: Any) -> list[Any]:
        raise RuntimeError("a bug in a check")

    monkeypatch.setitem(KINDS, "Host", Kind("Host", KINDS["Host"].spec, broken))
    write(tmp_path, "web.yaml", td_doc("web"), host_doc("h1"))

    result = load(tmp_path)

    assert errors_of(result) == {
        "web.yaml#1:(document)": "cannot validate: RuntimeError: a bug in a check"
    }
    assert result.unreadable == {"web.yaml"}


# --- item 4: a read error keeps, never deletes ----------------------------------------------------


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Makes directories named `name` fail to list, as EACCES or EIO would (root ignores
    chmod 000, so the failure is injected where the loader lists a directory)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        where = os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else str(path)
        if os.path.basename(where) == name:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subdirectory_is_an_error_not_an_empty_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "teams/api.yaml", td_doc("api"))
    _unreadable(monkeypatch, "teams")

    result = load(tmp_path)

    assert errors_of(result) == {
        "teams/#0:(document)": "cannot read this directory: Permission denied"
    }
    assert result.keeps("teams/api.yaml") and result.keeps("teams/deeper/x.yaml")
    assert not result.keeps("web.yaml") and not result.keeps("teamsters.yaml")


def test_a_vanished_root_is_an_error_that_keeps_everything(tmp_path: Path) -> None:
    result = load(tmp_path / "gone")

    assert [str(e) for e in result.errors] == [
        f"{tmp_path / 'gone'}: document 0: (document): cannot read the manifest directory: "
        "No such file or directory"
    ]
    assert result.keeps("web.yaml") and result.keeps("teams/api.yaml")


def test_validate_reports_an_unreadable_directory_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    write(tmp_path, "web.yaml", td_doc("web"))
    write(tmp_path, "teams/api.yaml", td_doc("api"))
    _unreadable(monkeypatch, "teams")

    assert main(["validate", str(tmp_path)]) == 1
    assert "teams/: document 0: (document): cannot read this directory" in capsys.readouterr().err


def test_tasks_of_an_unreadable_directory_keep_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path / "m")
    (h.root / "teams").mkdir()
    h.write("teams/web.yaml", manifest(2))
    h.apply("api.yaml", manifest(1).replace("web", "api"))
    before = {c.id for c in h.running()}
    assert len(before) == 2

    _unreadable(monkeypatch, "teams")
    h.apply("api.yaml", manifest(3).replace("web", "api"))

    assert {c.id for c in h.running()} == before
    assert len(h.running("api")) == 3  # the readable rest still converges
    assert [e.file for e in h.ctl.manifest_errors] == ["teams/"]
    assert _sample(h.ctl.metrics, "skiff_manifest_errors", file="teams/") == 1


def test_tasks_keep_running_when_the_whole_directory_vanishes_even_after_a_restart(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "m")
    h.apply("web.yaml", manifest(2))
    before = {c.id for c in h.running()}

    os.rename(h.root, tmp_path / "elsewhere")
    h.load()
    h.converge()
    assert {c.id for c in h.running()} == before
    assert "cannot read the manifest directory" in h.ctl.manifest_errors[0].message

    again = Harness(tmp_path / "m2", fake=h.fake, store=h.store, clock=h.clock)
    again.root.rmdir()
    again.ctl.restore()
    again.load()
    again.converge()
    assert {c.id for c in again.running()} == before


# --- the daemon's reload --------------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    fake = FakeRuntime()
    root = tmp_path / "m"
    write(root, "web.yaml", td_doc("web"), service_doc("web"))
    d = Daemon(str(root), str(tmp_path / "data"), "127.0.0.1:0", Settings(), lambda n, s: fake)
    yield d
    d.controller.stop()
    d.store.close()


def test_a_reload_that_raises_is_reported_and_keeps_everything(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.reload()
    assert ("Service", "web") in daemon.controller.desired

    def crash(*args: Any, **kwargs: Any) -> LoadResult:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("controller.daemon.load_directory", crash)
    daemon.reload()  # the first reload at start-up is this same call: it must not raise

    assert ("Service", "web") in daemon.controller.desired
    assert [e.message for e in daemon.controller.manifest_errors] == [
        "reload failed: RecursionError"
    ]
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 1


def test_a_reload_whose_apply_raises_does_not_raise(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(result: LoadResult) -> set[Any]:
        raise MemoryError()

    monkeypatch.setattr(daemon.controller, "apply_manifests", crash)
    daemon.reload()
    daemon.reload()

    assert [e.message for e in daemon.controller.manifest_errors] == ["reload failed: MemoryError"]
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 2


def test_an_unreadable_root_counts_as_a_reload_failure(daemon: Daemon) -> None:
    daemon.reload()
    os.rename(daemon.manifests, daemon.manifests + ".moved")
    daemon.reload()

    assert ("Service", "web") in daemon.controller.desired
    assert _sample(daemon.metrics, "skiff_manifest_reload_failures_total") == 1
    assert _sample(daemon.metrics, "skiff_manifest_errors", file=daemon.manifests) == 1


# --- helpers --------------------------------------------------------------------------------------


def _limits(**fields: int) -> Any:
    from controller.manifests.loader import Limits

    return Limits(**fields)


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real: Callable[[int, int], bytes] = os.read

    def read(fd: int, n: int) -> bytes:
        data = real(fd, n)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(os, "read", read)
    return sizes


def _sample(metrics: Any, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)
