"""Parses the YAML text of one manifest file into plain documents, within bounds.

PyYAML's safe loader, with these changes:
- a duplicate mapping key is an error, instead of the last one silently winning;
- each document is composed into YAML's node graph first, and refused before any Python object
  is built when it nests deeper than `max_depth` mappings and lists or, with every alias
  expanded, holds more than `max_nodes` nodes (a "billion laughs" alias bomb is a few hundred
  bytes; everything downstream, validation and error messages, walks the expanded values);
  an alias inside the node it names (a cycle) is refused too. The expanded size is counted
  with memoisation, so counting a bomb is as cheap as reading it;
- every failure of one document, whatever raised it (a YAML error, an integer of 5,000 digits,
  a date that does not exist), is one `DocumentError` naming the document (and the line and
  column YAML points at), never a traceback;
- documents are numbered from 1, as editors show them (0 is the file as a whole), and each comes
  with `Positions`: where every mapping key and list item of it was written, so an error about a
  field can name its line and column.

It neither reads files (the reader does) nor validates documents (the loader does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.manifests.base import SHOWN_CHARACTERS, Path, quote


@dataclass(frozen=True)
class YamlLimits:
    max_nodes: int = 100_000  # per document, every alias expanded each time it is used
    max_depth: int = 64  # mappings and lists nested in one another, aliases expanded


class DocumentError(Exception):
    """Document `document` of a file could not be read; `message` says why, without a trace;
    `mark` is the (line, column) YAML points at, both from 1, when it points at one."""

    def __init__(self, document: int, message: str, mark: Mark | None = None) -> None:
        super().__init__(message)
        self.document, self.message, self.mark = document, message, mark


Mark = tuple[int, int]  # (line, column), both from 1 as editors count them


class Positions:
    """Where the parts of one document were written: a field's path (mapping keys and list
    indices, as in a FieldError) to the (line, column) of its value, and of its key for a
    mapping entry (where an unknown field is shown)."""

    def __init__(self) -> None:
        self.values: dict[Path, Mark] = {}
        self.keys: dict[Path, Mark] = {}

    def of(self, path: Path, *, key: bool = False) -> Mark | None:
        """The mark of `path`, or of its nearest ancestor written in the document (a missing
        field is shown at the mapping it is missing from); `key`: the entry's key when the
        path itself is written. None for an empty document."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return None

    @classmethod
    def of_node(cls, root: Node) -> Positions:
        """Every path of a composed (and constructed: merge keys flattened) node graph. Paths
        through aliases are walked like any other, within the bounds check_expansion kept."""
        positions = cls()
        stack: list[tuple[Path, Node]] = [((), root)]
        while stack:
            path, node = stack.pop()
            positions.values.setdefault(path, _mark(node))
            if isinstance(node, SequenceNode):
                stack.extend(((*path, i), item) for i, item in enumerate(node.value))
            elif isinstance(node, MappingNode):
                # the last entry of a key wins, as in the mapping built (merged keys come first)
                for key_node, value in reversed(node.value):
                    if isinstance(key_node, ScalarNode) and (*path, key_node.value) not in (
                        positions.keys
                    ):
                        child = (*path, key_node.value)
                        positions.keys[child] = _mark(key_node)
                        stack.append((child, value))
        return positions


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _problem_mark(exc: Exception) -> Mark | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return None
    return (mark.line + 1, mark.column + 1)


class _Refused(ComposerError):
    """A bound was exceeded: reported as is, not as a syntax error."""


class _BoundedLoader(yaml.SafeLoader):
    """Counts nodes and nesting while composing, before anything can exhaust memory or stack."""

    def __init__(self, text: str, name: str, limits: YamlLimits) -> None:
        super().__init__(text)
        self.name = name  # marks say `in "teams/web.yaml", line 3`
        self.limits = limits
        self._depth = 0
        self._nodes = 0

    def compose_document(self) -> Node | None:
        self._nodes = 0
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):  # a reference: no new node, counted when expanded
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise _Refused(
                None, None, f"more than {self.limits.max_nodes} YAML nodes", event.start_mark
            )
        nested = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        self._depth += nested
        try:
            if self._depth > self.limits.max_depth:
                raise _Refused(
                    None,
                    None,
                    f"mappings and lists nested deeper than {self.limits.max_depth} levels",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= nested


def _construct_mapping(loader: _BoundedLoader, node: MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:  # the keys written here; `<<` merges may repeat them
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise ConstructorError(
                None, None, f"a mapping key must be a scalar, not {quote(key)}", key_node.start_mark
            ) from None
        if duplicate:
            raise ConstructorError(None, None, f"duplicate key {quote(key)}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)  # merged keys first, so the ones written here win
    return {
        loader.construct_object(k, deep=True): loader.construct_object(v, deep=True)
        for k, v in node.value
    }


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_expansion(root: Node, limits: YamlLimits) -> None:
    """Refuses a node graph that, with aliases expanded, is too large, too deep or cyclic.

    Post-order over the graph, each distinct node once: a node's expanded size is one plus its
    children's, its depth one more than its deepest child's (for a mapping or list).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            nested = isinstance(node, SequenceNode | MappingNode)
            depth[key] = nested + max((depth[id(c)] for c in children), default=0)
            if size[key] > limits.max_nodes:
                raise _Refused(
                    None,
                    None,
                    f"more than {limits.max_nodes} YAML nodes once its aliases are expanded",
                    node.start_mark,
                )
            if depth[key] > limits.max_depth:
                raise _Refused(
                    None,
                    None,
                    f"mappings and lists nested deeper than {limits.max_depth} levels once "
                    "its aliases are expanded",
                    node.start_mark,
                )
            continue
        if key in size:
            continue
        if key in entered:
            raise _Refused(None, None, "an alias used inside the node it names", node.start_mark)
        entered.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in entered and id(child) not in size:
                raise _Refused(
                    None, None, "an alias used inside the node it names", child.start_mark
                )
            stack.append((child, False))


def documents(
    text: str, name: str, limits: YamlLimits = YamlLimits()
) -> Iterator[tuple[int, Any, Positions]]:
    """(number, document, positions) for every non-empty document of `text`, numbered from 1;
    an empty one keeps its number.

    Raises DocumentError for the first document that cannot be read: documents after it are
    not read (their boundaries are unknown once the syntax breaks).
    """
    try:
        loader = _BoundedLoader(text, name, limits)  # refuses unprintable characters at once
    except yaml.YAMLError as exc:
        raise DocumentError(0, f"cannot parse: {_one_line(exc)}", _reader_mark(exc, text)) from None
    number = 1
    try:
        while True:
            try:
                node = None
                if not loader.check_node():
                    return
                node = loader.get_node()
                if node is None:
                    return
                check_expansion(node, limits)
                doc = loader.construct_document(node)
                positions = Positions.of_node(node)
            except _Refused as exc:
                raise DocumentError(
                    number, f"not read: {_one_line(exc)}", _problem_mark(exc)
                ) from None
            except yaml.YAMLError as exc:
                raise DocumentError(
                    number, f"cannot parse: {_one_line(exc)}", _problem_mark(exc)
                ) from None
            except Exception as exc:  # RecursionError, MemoryError, ValueError from a scalar...
                raise DocumentError(  # which node is not known: the document's start is
                    number,
                    f"cannot parse: {type(exc).__name__}: {_one_line(exc)}",
                    None if node is None else _mark(node),
                ) from None
            if doc is not None:
                yield number, doc, positions
            number += 1
    finally:
        loader.dispose()


def _reader_mark(exc: yaml.YAMLError, text: str) -> Mark | None:
    """Where a character the reader refused is: it gives an offset, not a line."""
    position = getattr(exc, "position", None)
    if not isinstance(position, int):
        return _problem_mark(exc)
    before = text[:position]
    return (before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1)


def _one_line(exc: Exception) -> str:
    """The parser's message on one line, each word of it cut short: YAML's messages quote the
    token at fault (an alias, a tag) and the line around it, which come from the file."""
    return " ".join(_short(word) for word in str(exc).split())


def _short(word: str) -> str:
    if len(word) <= SHOWN_CHARACTERS:
        return word
    return f"{word[:SHOWN_CHARACTERS]}... ({len(word)} characters)"
