"""Text from the daemon made safe for a terminal, and the aligned tables the CLI prints.

Names, messages and reasons come from manifests, containers and API callers; printed raw, an
escape sequence in one could recolour the screen, move the cursor or fake lines of output. Every
control character (C0, DEL, C1: ESC, CR and LF included) is shown as a visible `\\xNN` instead,
and every bidirectional formatting character (U+202E RIGHT-TO-LEFT OVERRIDE and its kin, which
make a terminal show text in another order than it is) as `\\uNNNN`. Every human-readable
table and line goes through here, the console log included; JSON output does not (it is exact
JSON).
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with each control character written as the four visible characters \\xNN (a
    bidirectional formatting character as \\uNNNN)."""
    return _CONTROL.sub(lambda m: _visible(m.group()), text)


def table(rows: list[list[str]]) -> list[str]:
    """Rows as lines of left-aligned columns two spaces apart, every cell made printable."""
    cells = [[printable(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
