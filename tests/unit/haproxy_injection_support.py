"""The hostile values the HAProxy injection tests share, and the Lua script that leaves a marker
file if HAProxy ever loads it.
"""

from __future__ import annotations

from pathlib import Path

LUA_MARKER = "lua-ran"

# name -> hostile text; NEWLINE's Lua path is filled in per test (it touches a marker file).
HOSTILE = {
    "newline": "x\nglobal\n    lua-load {lua}\n#",  # what follows it: a comment
    "trailing newline": "x\n",  # a regex's `$` would let it through
    "semicolon": "x;shutdown",
    "hash": "x#y",
    "quotes": "x'y\"z",
    "backslash": "x\\y",
    "expr": "%[env(HOME)]",
    "space": "x y",
    "nul": "x\x00y",
    "long": "x" * 100_000,
}


def hostile(kind: str, lua: Path) -> str:
    return HOSTILE[kind].format(lua=lua)


def lua_script(tmp_path: Path) -> Path:
    """A Lua script that, if HAProxy ever loads it, leaves a marker file beside it."""
    script = tmp_path / "evil.lua"
    marker = tmp_path / LUA_MARKER
    script.write_text(f'local f = io.open("{marker}", "w"); f:write("ran"); f:close()\n')
    return script
