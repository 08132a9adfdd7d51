"""Placement constraints and strategies of a Service, and the memberOf expression language.

Expressions follow ECS's cluster query language over a host's attributes:
`attribute:zone in [zone-a, zone-b]`, `attribute:disk == ssd`, `attribute:gpu exists`,
`attribute:name =~ web-.*`, combined with `and`, `or`, `not` and parentheses. `zone` and
`name` (also `host`) are built in; any other name is one of the Host's `attributes`.
Parsing happens at validation, so a malformed expression is reported with its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from controller.manifests.base import SpecModel, quote

BUILT_IN = {"zone", "name", "host"}

_TOKEN = re.compile(
    r"\s*(?:(?P<punct>\(|\)|\[|\]|,)|(?P<op>==|!=|=~|!~|!in\b|!exists\b)"
    r"|'(?P<quoted>[^']*)'|(?P<word>[A-Za-z0-9_.:*/\-]+))"
)
PUNCTUATION = {"(", ")", "[", "]", ","}
MAX_DEPTH = 32


class Constraint(SpecModel):
    type: Literal["distinctInstance", "memberOf"]
    """The type of constraint: distinctInstance runs each task on a different instance, memberOf
    restricts tasks to instances matching the expression."""
    expression: str | None = None
    """A cluster query language expression to apply to the constraint."""

    @model_validator(mode="after")
    def _expression(self) -> Constraint:
        if self.type == "memberOf":
            if not self.expression:
                raise ValueError("memberOf needs an expression")
            parse(self.expression)  # raises ValueError with the reason
        elif self.expression:
            raise ValueError("distinctInstance takes no expression")
        return self


class Strategy(SpecModel):
    type: Literal["spread", "binpack", "random"]
    """The type of placement strategy: spread, binpack or random."""
    field: str | None = Field(
        None, description="spread: instanceId, host or attribute:NAME; binpack: cpu or memory."
    )

    @model_validator(mode="after")
    def _field(self) -> Strategy:
        if self.type == "binpack" and self.field not in ("cpu", "memory"):
            raise ValueError("binpack needs field cpu or memory")
        if self.type == "spread" and not (
            self.field in ("instanceId", "host")
            or ((self.field or "").startswith("attribute:") and len(self.field or "") > 10)
        ):
            raise ValueError("spread needs field instanceId, host or attribute:NAME")
        if self.type == "random" and self.field:
            raise ValueError("random takes no field")
        return self


# --- the expression language ------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    attribute: str
    op: str  # == != =~ !~ in !in exists !exists
    values: tuple[str, ...] = ()

    def holds(self, attrs: Mapping[str, str]) -> bool:
        value = attrs.get(self.attribute)
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if value is None:
            return self.op in ("!=", "!in", "!~")
        if self.op == "==":
            return value == self.values[0]
        if self.op == "!=":
            return value != self.values[0]
        if self.op == "in":
            return value in self.values
        if self.op == "!in":
            return value not in self.values
        matched = re.fullmatch(self.values[0], value) is not None
        return matched if self.op == "=~" else not matched


@dataclass(frozen=True)
class Op:
    op: str  # and | or | not
    args: tuple[Expr, ...]

    def holds(self, attrs: Mapping[str, str]) -> bool:
        if self.op == "not":
            return not self.args[0].holds(attrs)
        results = (a.holds(attrs) for a in self.args)
        return all(results) if self.op == "and" else any(results)


Expr = Test | Op


def host_attributes(name: str, zone: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """What expressions and spread fields see of a host: its attributes and the built-ins."""
    return {**attributes, "zone": zone, "name": name, "host": name}


def attributes_of(expr: Expr) -> set[str]:
    if isinstance(expr, Test):
        return {expr.attribute}
    return set().union(*(attributes_of(a) for a in expr.args))


def parse(text: str) -> Expr:
    """Parses a memberOf expression; raises ValueError naming what is wrong."""
    tokens = _tokens(text)
    parser = _Parser(tokens)
    expr = parser.disjunction()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {quote(parser.peek())} in expression {quote(text)}")
    return expr


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise ValueError(f"cannot read expression {quote(text)} at {quote(text[at:].strip())}")
        if match.group("quoted") is not None:  # a quoted value: any text, e.g. a regex
            out.append(_Quoted(match.group("quoted")))
        else:
            out.append(match.group("punct") or match.group("op") or match.group("word"))
        at = match.end()
    return out


class _Quoted(str):
    """A value written in quotes: never an operator or punctuation."""


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.at, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.lower() != expected):
            want = f"{expected!r}" if expected else "more"
            raise ValueError(f"expected {want} in expression, found {quote(token)}")
        self.at += 1
        return token

    def disjunction(self) -> Expr:
        args = [self.conjunction()]
        while (self.peek() or "").lower() == "or":
            self.take()
            args.append(self.conjunction())
        return args[0] if len(args) == 1 else Op("or", tuple(args))

    def conjunction(self) -> Expr:
        args = [self.negation()]
        while (self.peek() or "").lower() == "and":
            self.take()
            args.append(self.negation())
        return args[0] if len(args) == 1 else Op("and", tuple(args))

    def negation(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"expression nested deeper than {MAX_DEPTH} levels")
        try:
            if (self.peek() or "").lower() == "not":
                self.take()
                return Op("not", (self.negation(),))
            if self.peek() == "(":
                self.take("(")
                inner = self.disjunction()
                self.take(")")
                return inner
            return self.test()
        finally:
            self.depth -= 1

    def value(self) -> str:
        token = self.take()
        if token in PUNCTUATION and not isinstance(token, _Quoted):
            raise ValueError(f"expected a value, found {quote(token)}")
        return str(token)

    def test(self) -> Test:
        subject = self.take()
        if not subject.startswith("attribute:") or len(subject) == len("attribute:"):
            raise ValueError(f"expected attribute:NAME, found {quote(subject)}")
        name = subject.removeprefix("attribute:")
        op = self.take().lower()
        if op == "not" and (self.peek() or "").lower() == "in":
            self.take()
            op = "!in"
        if op in ("exists", "!exists"):
            return Test(name, op)
        if op in ("in", "!in"):
            self.take("[")
            values = [self.value()]
            while self.peek() == ",":
                self.take(",")
                values.append(self.value())
            self.take("]")
            return Test(name, op, tuple(values))
        if op in ("==", "!=", "=~", "!~"):
            value = self.value()
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise ValueError(f"bad pattern {quote(value)}: {exc}") from None
            return Test(name, op, (value,))
        raise ValueError(f"unknown operator {quote(op)} (==, !=, =~, !~, in, !in, exists, !exists)")
