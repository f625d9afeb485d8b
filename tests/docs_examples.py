"""The runnable examples of the user docs (README.md, docs/jobs.md, docs/kernels.md).

Every fenced block in `bash`, `console` or `python` is an example a reader may paste, so it is
run by tests/integration/test_docs_examples.py, as written. A block that cannot run in a test
says why on the line before its fence:

    <!-- docs-test: skip (a long-running server; the browser tests start it) -->

Blocks in other languages (```text, ``` alone) are reference listings, not examples.

Kinds of example:
- "shell": a bash block, run whole with `bash -e`;
- "console": the `$ ` lines of a console block are the commands (the rest is sample output);
- "ipython": a python block with `%` magics, run in a real kernel for a notebook;
- "config": a python block that starts with `# jupyter_server_config.py`, loaded as one;
- "python": any other python block, run with the interpreter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = ("README.md", "docs/jobs.md", "docs/kernels.md")
RUN_LANGUAGES = {"bash", "sh", "shell", "console", "python"}
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<why>[^)]+)\)\s*-->")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Example:
    file: str
    line: int  # of the opening fence, 1-based
    kind: str  # shell | console | ipython | config | python
    code: str
    skip: str | None = None  # the reason given, when the docs say it is not run

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _kind(lang: str, code: str) -> str:
    if lang == "console":
        return "console"
    if lang in ("bash", "sh", "shell"):
        return "shell"
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    if first.startswith("# jupyter_server_config.py"):
        return "config"
    if any(line.lstrip().startswith("%") for line in code.splitlines()):
        return "ipython"
    return "python"


def extract(text: str, file: str) -> list[Example]:
    """The examples of one Markdown file, in order."""
    lines = text.splitlines()
    out: list[Example] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group("lang").lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        if lang in RUN_LANGUAGES:
            code = "\n".join(lines[start + 1 : j]) + "\n"
            before = lines[start - 1] if start > 0 else ""
            skip = _SKIP.search(before)
            out.append(
                Example(
                    file, start + 1, _kind(lang, code), code, skip.group("why") if skip else None
                )
            )
        i = j + 1
    return out


def console_commands(code: str) -> list[str]:
    """The commands of a console block: its `$ ` lines (continued by a trailing backslash)."""
    commands: list[str] = []
    lines = iter(code.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + "\n" + next(lines, "")
        commands.append(command)
    return commands


def all_examples(root: Path) -> list[Example]:
    return [ex for doc in DOCS for ex in extract((root / doc).read_text(), doc)]
