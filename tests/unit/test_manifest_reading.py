"""What the loader refuses to read (issue 12, items 5 and 6): FIFOs, which never block it, and
symbolic links, which never show a file outside the directory and are never descended.

Each test builds a real manifest directory under tmp_path and checks what a user would notice:
an error naming the path (never a traceback, never a hang, never the content of a file outside
the directory).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.catalog import load_directory
from tests.support.documents import td_doc, write
from tests.support.harness import Harness
from tests.unit.manifest_reading_support import errors_of, load, loads_within

SECRET = "SKIFF-TEST-SECRET-5d0c"


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
    assert f"{root / 'shadow.yaml'}: a symbolic link to" in out.err


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
