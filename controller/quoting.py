"""How a value a user wrote shows in a message: quoted, and cut short.

Every message that repeats a value from a manifest, a flag or a request goes through `quote`,
so that no message echoes a whole document (an alias bomb, a file's content) or a control
character that could rewrite a terminal. Pure; it depends on nothing of Skiff's.
"""

from __future__ import annotations

import reprlib

SHOWN_CHARACTERS = 60  # of a user's value in a message; the rest is counted, not echoed
_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother = 3, SHOWN_CHARACTERS, SHOWN_CHARACTERS


def quote(value: object) -> str:
    """A user's value as a message shows it: its repr(), or, when long, the first 60 characters
    and its size, so that no message echoes a whole document (an alias bomb, a file's content).

    Its repr() shows control characters as escapes.
    """
    if isinstance(value, str | bytes):
        if len(value) <= SHOWN_CHARACTERS:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value)} {unit})"
    if isinstance(value, int) and value.bit_length() > 128:  # repr() refuses past 4300 digits
        return f"a number of {len(hex(value)) - 2} hexadecimal digits"
    try:
        text = _BOUNDED.repr(value)  # bounded: never walks a whole nested structure
    except Exception:  # a value whose repr() fails is still worth an error message
        return f"a {type(value).__name__}"
    if len(text) <= SHOWN_CHARACTERS:
        return text
    if isinstance(value, list | tuple | dict | set):
        return f"{text[:SHOWN_CHARACTERS]}... ({len(value)} item{'s' * (len(value) != 1)})"
    return f"{text[:SHOWN_CHARACTERS]}..."
