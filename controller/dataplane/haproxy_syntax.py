"""The one way text reaches HAProxy: lines of its configuration file and commands of its
runtime API (the admin socket) are built here, from words made by these typed helpers.

HAProxy reads its configuration line by line and splits each line into words (quotes group
one); `lua-load` and friends run code while the file is merely checked (`haproxy -c`). Its
runtime API splits commands on `;` and newlines and knows no quotes at all. So:

- tokens (names, addresses, ports, numbers, keywords) must already be plain words: anything
  else is refused with `UnsafeValue`, never repaired;
- free text (a health-check path, a pattern, a response body, a redirect location) becomes
  one quoted configuration word, whatever it holds (NUL excepted: it is refused);
- a configuration line (`section`, `directive`) or a runtime command (`runtime_command`) is
  assembled only from `Word`s, which only this module makes: a value added later cannot
  reach HAProxy as raw text, and a runtime command can never carry `;`, a newline or a quote.

This module decides nothing about what to say (the planner does) and talks to nobody (the
data plane does).
"""

from __future__ import annotations

import re

from controller.addresses import address_problem, with_port
from controller.quoting import quote

MAX_NAME = 128  # HAProxy accepts longer names; Skiff's are at most about 80 characters
# A proxy or server name: the characters HAProxy allows in one, less ':' (which `add server`
# would read as the start of an address) and '/' (the backend/server separator).
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# A keyword or fixed expression written in Skiff's code: printable ASCII without the
# characters HAProxy gives a meaning (quotes, backslash, '#' comments) or its CLI splits on.
_KEYWORD = re.compile(r"^[\x21-\x7e]+$")
_KEYWORD_BANNED = set("'\"\\#;")
# What a runtime API word may hold: a keyword's characters, less braces (no command has them).
# (Patterns here are used with fullmatch: `$` alone would let a trailing newline through.)
_RUNTIME_BANNED = _KEYWORD_BANNED | set("{}")
_ESCAPED = {"\n": '"\\n"', "\r": '"\\r"', "\t": '"\\t"'}
INDENT = "    "


class UnsafeValue(ValueError):
    """A value that cannot be written to HAProxy as the word it has to be."""


class Word(str):
    """Text that is exactly one HAProxy word as it stands. Only this module's helpers make
    them; lines and commands accept nothing else."""

    __slots__ = ()


def kw(text: str) -> Word:
    """A keyword or fixed expression of Skiff's own (`http-request`, `{`, `int(0)`)."""
    if not isinstance(text, str) or not _KEYWORD.fullmatch(text) or set(text) & _KEYWORD_BANNED:
        raise UnsafeValue(f"{quote(text)} is not a plain HAProxy keyword")
    return Word(text)


def phrase(text: str) -> tuple[Word, ...]:
    """Several keywords of Skiff's own, written as one string (`option httpchk GET`)."""
    return tuple(kw(part) for part in text.split(" "))


def name(text: str) -> Word:
    """A proxy (frontend, backend) or server name."""
    if not isinstance(text, str) or not _NAME.fullmatch(text) or len(text) > MAX_NAME:
        raise UnsafeValue(
            f"{quote(text)} cannot be a HAProxy name: letters, digits, '_', '.' and '-' only, "
            f"at most {MAX_NAME}"
        )
    return Word(text)


def whole(value: object, low: int = 0, high: int = 2**31 - 1) -> int:
    """`value` if it is a whole number within [low, high] (not a bool, nor a string of
    digits), for arithmetic on what becomes a word."""
    if type(value) is not int or not low <= value <= high:
        raise UnsafeValue(f"{quote(value)} is not a whole number from {low} to {high}")
    return value


def integer(value: int, low: int = 0, high: int = 2**31 - 1) -> Word:
    """A whole number within [low, high] (a port, a priority, a count of seconds)."""
    return Word(str(whole(value, low, high)))


def seconds(value: int) -> Word:
    """A duration in whole seconds (`30s`)."""
    return join(integer(value), kw("s"))


def address(host: str, port: int) -> Word:
    """host:port, the host an IP literal (IPv6 in brackets) or a host name."""
    problem = address_problem(host)
    if problem is not None:
        raise UnsafeValue(f"address {problem}")
    integer(port, 1, 65535)
    return Word(with_port(host, port))


def server_ref(backend: Word, server: Word) -> Word:
    """BACKEND/SERVER, as the runtime API names a server."""
    return join(_word(backend), kw("/"), _word(server))


def quoted(text: str) -> Word:
    """Free text as one configuration word, as is. Strong (single) quotes: HAProxy expands
    neither `$` nor backslashes inside them, and a `#` there is no comment; a single quote
    itself goes outside them, escaped; a newline, carriage return or tab is written as an
    escape in double quotes (so the line never ends inside the text)."""
    if not isinstance(text, str):
        raise UnsafeValue(f"{quote(text)} is not text")
    if "\x00" in text:
        raise UnsafeValue(f"{quote(text)} holds a NUL character, which HAProxy cannot read")
    parts = re.split(r"([\n\r\t])", text)
    return Word(
        "".join(
            _ESCAPED[p] if p in _ESCAPED else "'" + p.replace("'", "'\\''") + "'"
            for p in parts
            if p
        )
        or "''"
    )


def path(text: str) -> Word:
    """A file path (the admin socket's): as it stands when it is one plain word, quoted
    otherwise. Control characters are refused: no file Skiff makes has them."""
    if not isinstance(text, str) or not text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise UnsafeValue(f"{quote(text)} is not a usable file path")
    if _KEYWORD.fullmatch(text) and not set(text) & _KEYWORD_BANNED and "$" not in text:
        return Word(text)
    return quoted(text)


def join(*words: Word) -> Word:
    """Words written together as one (`int(` + `10` + `)`)."""
    return Word("".join(_word(w) for w in words))


def section(keyword: Word, title: Word | None = None) -> str:
    """A section header: `global`, `defaults`, `frontend NAME`, `backend NAME`."""
    return " ".join(_word(w) for w in (keyword, *(() if title is None else (title,))))


def directive(*words: Word) -> str:
    """One indented line of a section."""
    if not words:
        raise UnsafeValue("an empty directive")
    return INDENT + " ".join(_word(w) for w in words)


def runtime_command(*words: Word) -> str:
    """One runtime API command. Its words must be plain: the API knows no quoting, and splits
    commands on `;` and newlines."""
    for w in words:
        text = _word(w)
        if not _KEYWORD.fullmatch(text) or set(text) & _RUNTIME_BANNED:
            raise UnsafeValue(f"{quote(text)} cannot be a word of a HAProxy runtime command")
    return " ".join(words)


def _word(value: object) -> Word:
    if not isinstance(value, Word):
        raise UnsafeValue(f"{quote(value)} was not made a HAProxy word by haproxy_syntax")
    return value
