"""The CLI finds the daemon's token on its own: --token-file, else SKIFF_TOKEN, else the token
file in the data directory (the same default as `skiff run`), so local use needs no flag; a
command without a usable token says how to get one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.auth import ApiOptions, access_for
from controller.api.server import ApiServer
from controller.cli.api_client import find_token
from controller.cli.main import main
from tests.unit.test_batch_engine import harness


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A daemon's API with the token it generated in its data directory: address, data dir."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    h = harness(root)
    api = ApiServer(
        "127.0.0.1:0",
        h.ctl,
        lambda: True,
        str(root),
        access_for("127.0.0.1:0", ApiOptions(), str(data)),
    )
    api.start()
    try:
        yield api.address, data
    finally:
        api.stop()


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKIFF_TOKEN", raising=False)
    monkeypatch.delenv("SKIFF_DATA_DIR", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_commands_find_the_token_in_the_default_data_directory(
    daemon: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listen, data = daemon
    monkeypatch.setenv("SKIFF_DATA_DIR", str(data))  # what default_data_dir() answers
    code, out, err = run(capsys, "status", "--api", listen)
    assert code == 0, err
    assert out.startswith("KIND")
    submit = ["batch", "submit", "--queue", "q", "--definition", "work", "--api", listen]
    code, job_id, err = run(capsys, *submit)
    assert code == 0, err
    code, out, err = run(capsys, "batch", "list", "--api", listen)
    assert code == 0, err
    assert job_id.split()[-1] in out  # (the daemon's own log shares stdout in this process)
    code, out, err = run(capsys, "events", "--all", "--no-follow", "--api", listen)
    assert code == 0, err


def test_data_dir_and_token_file_flags(
    daemon: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    listen, data = daemon
    assert run(capsys, "status", "--api", listen, "--data-dir", str(data))[0] == 0
    code, out, err = run(capsys, "batch", "list", "--api", listen, "--data-dir", str(data))
    assert code == 0, err
    assert out.startswith("JOB ID")
    given = tmp_path / "t"
    given.write_text((data / "token").read_text())
    assert run(capsys, "status", "--api", listen, "--token-file", str(given))[0] == 0


def test_without_a_token_a_command_says_where_it_looked_and_how_to_get_one(
    daemon: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    listen, _ = daemon
    code, _, err = run(capsys, "status", "--api", listen, "--data-dir", str(tmp_path))
    assert code == 1
    assert "this API needs a token" in err
    assert f"$SKIFF_TOKEN is not set and {tmp_path / 'token'} does not exist" in err
    assert "Traceback" not in err


def test_a_wrong_token_is_named_with_its_source(
    daemon: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    listen, _ = daemon
    monkeypatch.setenv("SKIFF_TOKEN", "not-the-daemon-s-token")
    code, _, err = run(capsys, "instance", "stop", "i-1", "--api", listen)
    assert code == 1
    assert "the token is not this daemon's" in err and "$SKIFF_TOKEN" in err


def test_a_missing_token_file_is_a_clear_error(
    daemon: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    listen, _ = daemon
    missing = tmp_path / "nowhere"
    for argv in (
        ["status"],
        ["events", "--no-follow"],
        ["batch", "list"],
        ["asg", "set-desired", "g", "1"],
    ):
        code, _, err = run(capsys, *argv, "--api", listen, "--token-file", str(missing))
        assert code == 1
        assert f"--token-file {missing}: cannot read it" in err


def test_the_token_comes_from_the_flag_then_the_environment_then_the_data_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("in-the-data-dir\n")
    (tmp_path / "flag").write_text("in-the-flag-file\n")
    env = {"SKIFF_TOKEN": "in-the-environment"}
    assert find_token(str(tmp_path / "flag"), str(tmp_path), env)[0] == "in-the-flag-file"
    assert find_token(None, str(tmp_path), env)[0] == "in-the-environment"
    assert find_token(None, str(tmp_path), {})[0] == "in-the-data-dir"
    assert find_token(None, str(tmp_path / "none"), {})[0] is None


def test_a_token_that_cannot_be_sent_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKIFF_TOKEN", "two words")
    code, _, err = run(capsys, "status", "--api", "127.0.0.1:1")
    assert code == 1
    assert "the token in $SKIFF_TOKEN is empty or has spaces or control characters" in err
    monkeypatch.delenv("SKIFF_TOKEN")
    (tmp_path / "token").write_text("line one\nline two\n")
    code, _, err = run(capsys, "status", "--api", "127.0.0.1:1", "--data-dir", str(tmp_path))
    assert code == 1
    assert f"the token in {tmp_path / 'token'} is empty or has spaces" in err
