"""The loader's limits (issue 12, item 7): file sizes, YAML aliases (bombs and loops) and
nesting, and errors that show no traceback and never echo a long value.

Each test builds a real manifest directory under tmp_path and checks what a user would notice:
an error naming the path (never a traceback, never a hang, never the content of a file outside
the directory).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.catalog import KINDS
from controller.manifests.kinds import Kind
from tests.support.documents import container, host_doc, td_doc, write
from tests.unit.manifest_reading_support import errors_of, load, loads_within

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
    assert (err.file, err.document, err.field) == ("bomb.yaml", 1, "(document)")
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
    assert (err.file, err.document) == ("deep.yaml", 2)
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
    err = capsys.readouterr().err
    assert f"{tmp_path / 'web.yaml'}: larger than 10 bytes" in err
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

    assert [(e.file, e.document) for e in result.errors] == [("x.yaml", 1)]
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
        "web.yaml#2:(document)": "cannot validate: RuntimeError: a bug in a check"
    }
    assert result.unreadable == {"web.yaml"}


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
