"""Just enough TOML writing for containerd's configuration (the standard library only reads it).

Tables nest by dotted names; strings are written as TOML basic strings, whose escapes JSON's
encoder also produces for the characters we write (paths and names). Keys that are not bare
(containerd's plugin ids contain dots) are quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

Value = str | int | bool | list[str]
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=True) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML here")


def dumps(doc: Mapping[str, object]) -> str:
    """A TOML document: scalars of each table first, then its sub-tables."""
    lines: list[str] = []

    def table(path: list[str], body: Mapping[str, object]) -> None:
        scalars = [(k, v) for k, v in body.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in body.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for k, v in scalars:
            lines.append(f"{_key(k)} = {_value(v)}")
        for k, v in tables:
            table([*path, k], v)

    table([], doc)
    return "\n".join(lines).lstrip("\n") + "\n"
