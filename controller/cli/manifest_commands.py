"""`skiff validate` and `skiff schema`: the commands that read manifests without a daemon.

`validate` takes files, directories and `-` (standard input, shown as `<stdin>`), checks them
as one set (a Service in one file may name a TaskDefinition in another), and prints each error
as `file:line:column: document N Kind/name: field: message`, the prefix editors and terminals
make clickable; a file below a directory is named from the directory given, so the name opens
from where the command ran. Exit 0 when everything is valid, 1 on any error or when no manifest
was found (2, usage, is argparse's).

`schema` prints the JSON Schema editors validate manifests with (every kind, or one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from controller.cli.output import add_output_flag, render
from controller.terminal import printable, table

if TYPE_CHECKING:
    from controller.manifests.base import FieldError
    from controller.manifests.loader import Limits, LoadResult
    from controller.manifests.policy import Policy
    from controller.manifests.reader import DirectoryProblem, ManifestFile

STDIN = "-"
STDIN_SHOWN = "<stdin>"


def add_parsers(sub: Any) -> None:
    """Adds `validate` and `schema` to the `skiff` parser's subcommands."""
    validate = sub.add_parser(
        "validate",
        help="check manifests (files, directories, - for standard input) without a daemon",
    )
    validate.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a manifest file, a directory of *.yaml/*.yml manifests, or - for standard input",
    )
    add_allow(validate)
    add_manifest_limit(validate)
    add_output_flag(validate)

    schema_parser = sub.add_parser(
        "schema", help="print the JSON Schema of manifests, for editors (see docs/editors.md)"
    )
    schema_parser.add_argument(
        "--kind", metavar="KIND", help="only this kind's documents (e.g. Service; any case)"
    )


# The flags of every command that reads manifests (`run` and `plan` have the same ones).


def add_allow(parser: argparse.ArgumentParser) -> None:
    from controller.manifests.allow_flags import CAPABILITY_PREFIX, FLAGS, HOST_PATH_PREFIX

    def allow(value: str) -> str:
        from controller.manifests.policy import Policy  # only when --allow is given

        try:
            Policy.parse([value])
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    names = ", ".join([*FLAGS, f"{HOST_PATH_PREFIX}/PREFIX", f"{CAPABILITY_PREFIX}NAME"])
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        type=allow,
        metavar="WHAT",
        help=f"let containers have this beyond the baseline (repeatable): {names}",
    )


def policy(args: argparse.Namespace) -> Policy:
    from controller.manifests.policy import Policy

    return Policy.parse(args.allow)


def add_manifest_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-manifest-bytes",
        type=_positive,
        default=1024 * 1024,  # loader.DEFAULT_MAX_MANIFEST_BYTES, not imported for every command
        help="the largest manifest file read, in bytes (default 1 MiB); a larger one is an error",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of bytes")
    return value


def limits(args: argparse.Namespace) -> Limits:
    from controller.manifests.loader import Limits

    return Limits(max_bytes=args.max_manifest_bytes)


def validate(args: argparse.Namespace) -> int:
    from controller.catalog import load_found

    shown = ", ".join(args.paths)
    found = _found(args.paths, args.max_manifest_bytes)
    result = load_found(found, shown, policy(args), limits=limits(args))
    if args.output in ("json", "yaml"):
        print(render(_document(result), args.output, lambda _: ""))
    else:
        for err in result.errors:
            print(printable(str(err)), file=sys.stderr)  # a file's name may hold an escape
        if not result.files and not result.errors:  # else the errors say why
            print(printable(f"{shown}: no *.yaml or *.yml manifests found"), file=sys.stderr)
        if args.output == "wide" and result.resources:
            rows = [["KIND", "NAME", "FILE", "DOCUMENT"]] + [
                [r.kind, r.name, r.source, str(r.document)] for r in result.resources.values()
            ]
            print("\n".join(printable(line) for line in table(rows)))
        n = len(result.resources)
        print(f"{len(result.files)} file(s), {n} valid resource(s), {len(result.errors)} error(s)")
    return 0 if result.ok and result.files else 1


def _found(paths: list[str], max_bytes: int) -> Iterator[ManifestFile | DirectoryProblem]:
    """Every manifest file of the paths, in order, each named as the user can open it."""
    from controller.manifests.reader import DirectoryProblem, read_stream, read_tree, text

    for path in paths:
        if path == STDIN:
            yield read_stream(STDIN_SHOWN, sys.stdin.buffer, max_bytes)
            continue
        if not os.path.lexists(path):
            yield DirectoryProblem(text(path), ".", "no such file or directory")
            continue
        # a file below a directory is named from the directory given (not from inside it)
        prefix = text(path) if os.path.isdir(path) and os.path.normpath(path) != "." else ""
        for found in read_tree(path, max_bytes):
            whole = isinstance(found, DirectoryProblem) and found.scope == "."
            if prefix and not whole:
                found = replace(found, shown=os.path.join(prefix, found.shown))
            yield found


def _document(result: LoadResult) -> dict[str, Any]:
    """What `-o json` and `-o yaml` print."""
    return {
        "files": len(result.files),
        "resources": len(result.resources),
        "errors": [_error(e) for e in result.errors],
    }


def _error(err: FieldError) -> dict[str, Any]:
    return {
        "file": err.file,
        "line": err.line,
        "column": err.column,
        "document": err.document,
        "kind": err.kind,
        "name": err.name,
        "field": err.field,
        "message": err.message,
    }


def schema(args: argparse.Namespace) -> int:
    from controller.catalog import KINDS, json_schema

    if args.kind is None:
        print(json.dumps(json_schema(), indent=2))
        return 0
    names = {name.lower(): name for name in KINDS}
    kind = names.get(args.kind.lower())
    if kind is None:
        print(
            printable(f"skiff: no kind {args.kind!r}; the kinds are: {', '.join(KINDS)}"),
            file=sys.stderr,
        )
        return 1
    print(json.dumps(json_schema(kind), indent=2))
    return 0
