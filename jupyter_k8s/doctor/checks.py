"""The checklist: `Check` (one line), `DoctorReport` (all of them), the exit code, the text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "fail", "warn", "skip"]

#: How each status is shown in the checklist.
SYMBOLS: dict[str, str] = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}


@dataclass
class Check:
    """One line of the checklist. `fail`: something required is missing (exit code 1);
    `warn`: worth knowing or optional; `skip`: not checked (and why)."""

    id: str
    section: str
    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    server: str | None = None
    context: str | None = None
    namespace: str | None = None

    @property
    def ok(self) -> bool:
        return exit_code(self.checks) == 0

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SYMBOLS, 0)
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": exit_code(self.checks),
            "counts": self.counts(),
            "server": self.server,
            "context": self.context,
            "namespace": self.namespace,
            "checks": [asdict(c) for c in self.checks],
        }


def exit_code(checks: Iterable[Check]) -> int:
    """1 when a required check failed, else 0 (warnings and skipped checks don't count)."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def format_report(report: DoctorReport) -> str:
    """The checklist as text: sections, one line per check, the fix under each problem."""
    lines: list[str] = []
    section = None
    for check in report.checks:
        if check.section != section:
            section = check.section
            if lines:
                lines.append("")
            lines.append(section)
        text = f"  {check.symbol} {check.name}: {check.detail}"
        lines.append(text)
        if check.fix and check.status in ("fail", "warn"):
            fix_lines = check.fix.splitlines() or [""]
            lines.append(f"      fix: {fix_lines[0]}")
            lines.extend(f"           {more}" for more in fix_lines[1:])
    counts = report.counts()
    lines.append("")
    if counts["fail"]:
        summary = f"{counts['fail']} required check{'s' if counts['fail'] != 1 else ''} failed"
    else:
        summary = "all required checks passed"
    if counts["warn"]:
        summary += f", {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    lines.append(summary + ".")
    return "\n".join(lines)
