"""Every subcommand and positional argument of `skiff` says what it is in --help, and the shell
completion scripts are generated from that same parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from controller.cli.main import build_parser, main


def walk(
    parser: argparse.ArgumentParser, path: str
) -> Iterator[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    for action in parser._actions:
        yield path, parser, action
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert name in helped, f"{path} {name}: a subcommand without help"
                yield from walk(sub, f"{path} {name}")


def test_every_subcommand_and_positional_has_help() -> None:
    missing = [
        f"{path} {action.dest}"
        for path, _, action in walk(build_parser(), "skiff")
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


def test_the_client_commands_take_api_and_not_listen() -> None:
    for path, parser, _ in walk(build_parser(), "skiff"):
        flags = {s for a in parser._actions for s in a.option_strings}
        if "--token-file" in flags and path != "skiff run":
            assert "--api" in flags and "--listen" not in flags, path


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_is_generated_from_the_parser(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("rollout", "describe", "completion", "--api", "set-desired"):
        assert word in script
    program = shutil.which(shell)
    assert program is not None, f"{shell} is not installed (scripts/ensure-docker.sh installs it)"
    check = subprocess.run([program, "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_bash_completes_the_subcommand_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    probe = script + (
        '\nCOMP_WORDS=(skiff ro); COMP_CWORD=1; COMP_LINE="skiff ro"; COMP_POINT=8\n'
        "_shtab_skiff\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", probe], text=True, capture_output=True)
    assert done.stdout.split() == ["rollout"], done.stderr
