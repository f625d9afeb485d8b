"""The live view of a job: the notebook as it executes, as an nbformat-4 notebook (pure).

Two sources, one shape:

* API staging (no shared volume): the runner prints the notebook papermill runs (a "notebook"
  marker, then a "source" marker per cell, parameters injected) before the first cell, a
  "cell" marker as each code cell starts and a "cell_done" marker with its outputs as it
  finishes (`pod/runner.py`). The server's log follower feeds them to a `LiveRun`, which
  `LiveRun.notebook` assembles. The sources come from the log rather than from the job's input
  ConfigMap because the log has what papermill really ran (where it put the injected cell,
  the sweep helper), costs no API call, needs no papermill in the server, and a restarted
  server rebuilds the whole state by reading the log from its start, as it does for progress.
* Shared staging and finished jobs: papermill saves the notebook at each cell's start and end;
  `from_notebook` reads that file (or the collected output) and marks each cell from
  papermill's own cell metadata.

Everything here comes from the pod and is untrusted: sizes are capped again (CELL_OUTPUT_MAX
per cell, LIVE_OUTPUT_MAX per notebook, SOURCE_MAX and SOURCES_MAX for sources), outputs of
an unknown shape are replaced, text lines are cleaned of control characters. An output over a
cap is replaced by a short stream output that says it was left out and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: A cell's first line in the job status: at most this many characters.
LINE_MAX = 120
#: Bytes of one cell's outputs (as JSON) in the live view; the runner sends no more either.
CELL_OUTPUT_MAX = 128 * 1024
#: Bytes of all outputs in one live notebook.
LIVE_OUTPUT_MAX = 2 * 1024 * 1024
#: Characters of one cell's source, and of all sources, kept from the runner's markers.
SOURCE_MAX = 16 * 1024
SOURCES_MAX = 512 * 1024
#: Cells of a notebook a live view holds at most.
MAX_CELLS = 10_000

#: The metadata key of the live state: notebook-level and per cell.
METADATA_KEY = "jupyter_k8s_live"
#: A cell's state in the live view.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

_CONTROL: dict[int, str | None] = {c: None for c in range(32)}
_CONTROL.update({9: " ", 127: None})
_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
_CELL_TYPES = {"code", "markdown", "raw"}
# papermill's cell status -> the live view's
_PAPERMILL_STATE = {"pending": PENDING, "running": RUNNING, "completed": DONE, "failed": FAILED}


# clean_text, first_line, _size and left_out are the runner's own (pod/runner.py), written
# twice on purpose: the runner ships alone as one file and imports papermill, which the server
# must not. tests/unit/test_job_live.py runs both copies through the same cases.


def clean_text(text: Any, limit: int) -> str:
    """`text` without control characters (a tab reads as a space), at most `limit` long."""
    text = str(text).translate(_CONTROL)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def first_line(source: Any) -> str:
    """A cell's first non-blank line, cleaned and capped at LINE_MAX characters."""
    if isinstance(source, list):
        source = "".join(str(s) for s in source)
    for line in str(source or "").splitlines():
        if line.strip():
            return clean_text(line.strip(), LINE_MAX)
    return ""


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode("utf-8"))


def left_out(what: str, size: int, why: str) -> dict[str, Any]:
    """The stream output that stands for an output left out of the live view."""
    return {
        "output_type": "stream",
        "name": "stderr",
        "text": f"[jupyter-k8s live view: {what} of {size} bytes left out: {why}; the "
        "executed notebook has it]\n",
    }


def _text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _valid_output(output: Any) -> bool:
    """Whether an output has the shape nbformat 4 gives it (what a renderer may rely on)."""
    if not isinstance(output, dict) or output.get("output_type") not in _OUTPUT_TYPES:
        return False
    kind = output["output_type"]
    if kind == "stream":
        return output.get("name") in ("stdout", "stderr") and _text(output.get("text"))
    if kind == "error":
        return (
            isinstance(output.get("ename"), str)
            and isinstance(output.get("evalue"), str)
            and isinstance(output.get("traceback"), list)
            and all(isinstance(t, str) for t in output["traceback"])
        )
    data, metadata = output.get("data"), output.get("metadata", {})
    if not isinstance(data, dict) or not isinstance(metadata, dict):
        return False
    count = output.get("execution_count")
    if kind == "execute_result" and count is not None and not isinstance(count, int):
        return False
    return all(isinstance(k, str) for k in data)


def _kind(output: Any) -> str:
    """What an output is, for a person: 'image/png output', 'stream output'."""
    data = output.get("data") if isinstance(output, dict) else None
    if isinstance(data, dict) and data:
        rich = [k for k in data if k != "text/plain"] or list(data)
        return f"{clean_text(rich[0], 60)} output"
    kind = output.get("output_type") if isinstance(output, dict) else None
    return f"{clean_text(kind, 30)} output" if isinstance(kind, str) else "an output"


def cap_outputs(outputs: Any, budget: int) -> tuple[list[dict[str, Any]], int]:
    """One cell's outputs for the live view: at most CELL_OUTPUT_MAX bytes of JSON and
    `budget` (what the notebook has left); each output over that, or of a shape nbformat does
    not know, is replaced by a short stream output saying why. Returns (outputs, bytes used)."""
    room = min(CELL_OUTPUT_MAX, max(budget, 0))
    kept: list[dict[str, Any]] = []
    used = 0
    for output in outputs if isinstance(outputs, list) else []:
        if not _valid_output(output):
            note = left_out(_kind(output), _size(output), "it is not an nbformat 4 output")
            kept.append(note)
            used += _size(note)
            continue
        size = _size(output)
        if size + used > room:
            why = (
                f"over the {CELL_OUTPUT_MAX} bytes of a cell's live outputs"
                if budget >= CELL_OUTPUT_MAX
                else f"the live notebook's outputs are over {LIVE_OUTPUT_MAX} bytes"
            )
            output = left_out(_kind(output), size, why)
            size = _size(output)
        kept.append(output)
        used += size
    return kept, used


def _index(value: Any, total: int | None = None) -> int | None:
    """A cell index read from a marker: an int in range, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    limit = MAX_CELLS if total is None else min(total, MAX_CELLS)
    return value if 0 <= value < limit else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CELLS:
        return None
    return value


def kernelspec(value: Any) -> dict[str, str] | None:
    """A notebook's kernelspec metadata as nbformat wants it (name and display_name), its
    strings capped; None when it has no name."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    spec = {
        clean_text(k, 40): clean_text(v, 200)
        for k, v in list(value.items())[:10]
        if isinstance(k, str) and isinstance(v, str)
    }
    spec.setdefault("display_name", spec["name"])
    return spec


@dataclass
class Progress:
    """How far a run got: code cell `cell` of `total` (1-based, the injected parameters cell
    included), started as cell `index` of the notebook, whose first line is `line`."""

    cell: int | None = None
    total: int | None = None
    index: int | None = None
    line: str | None = None
    final: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """What `status.job_info` takes as `runlog_progress`."""
        return {
            "cell": self.cell,
            "total": self.total,
            "index": self.index,
            "line": self.line,
            "final": self.final,
        }


FINAL_EVENTS = ("succeeded", "failed", "cancelled")


def progress_event(progress: Progress, event: dict[str, Any]) -> None:
    """Fold one marker into `progress`: a later cell moves it on, never back (a log read
    again after a cut stream repeats the markers it had)."""
    kind = event.get("event")
    if kind in FINAL_EVENTS:
        progress.final = event
        return
    if kind != "cell":
        return
    number, total = _count(event.get("code_cell")), _count(event.get("code_cells"))
    if number is None:
        # A runner of before the live view: the cell's index among all cells.
        index = _index(event.get("index"))
        number = index + 1 if index is not None else None
        total = _count(event.get("total"))
    if number is None or (progress.cell is not None and number < progress.cell):
        return
    progress.cell, progress.total = number, total
    progress.index = _index(event.get("index"))
    line = event.get("first_line")
    progress.line = first_line(line) if isinstance(line, str) else None


@dataclass
class LiveRun:
    """What the log follower learned of one pod's run: the cells papermill runs, which has
    started, which have finished and with what. Markers may come twice (a log read again from
    its start after a cut stream): each is applied idempotently."""

    pod: str
    progress: Progress = field(default_factory=Progress)
    total: int | None = None  # cells in the notebook
    kernelspec: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    nbformat_minor: int = 4
    sources: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    output_bytes: int = 0
    source_chars: int = 0

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        progress_event(self.progress, event)
        if kind == "notebook":
            self._notebook(event)
        elif kind == "source":
            self._source(event)
        elif kind == "cell_done":
            self._done(event)

    def _notebook(self, event: dict[str, Any]) -> None:
        total = _count(event.get("cells"))
        if total is None:
            return
        self.total = total
        self.kernelspec = kernelspec(event.get("kernelspec")) or {}
        language = event.get("language")
        self.language = clean_text(language, 60) if isinstance(language, str) else None
        minor = event.get("nbformat_minor")
        self.nbformat_minor = minor if isinstance(minor, int) and 0 <= minor <= 5 else 4

    def _source(self, event: dict[str, Any]) -> None:
        index = _index(event.get("index"), self.total)
        if index is None or index in self.sources:
            return
        source = event.get("source")
        source = source if isinstance(source, str) else ""
        limit = max(0, min(SOURCE_MAX, SOURCES_MAX - self.source_chars))
        if len(source) > limit:
            source = source[:limit] + "\n# [jupyter-k8s live view: the rest is left out]"
        self.source_chars += len(source)
        cell_type = event.get("cell_type")
        tags = event.get("tags")
        cell_id = event.get("id")
        self.sources[index] = {
            "cell_type": cell_type if cell_type in _CELL_TYPES else "raw",
            "id": clean_text(cell_id, 64) if isinstance(cell_id, str) and cell_id else None,
            "source": source,
            "tags": [clean_text(t, 100) for t in tags[:20] if isinstance(t, str)]
            if isinstance(tags, list)
            else [],
        }

    def _done(self, event: dict[str, Any]) -> None:
        index = _index(event.get("index"), self.total)
        if index is None or index in self.done:
            return
        outputs, used = cap_outputs(event.get("outputs"), LIVE_OUTPUT_MAX - self.output_bytes)
        self.output_bytes += used
        count = event.get("execution_count")
        self.done[index] = {
            "state": FAILED if event.get("status") == "failed" else DONE,
            "execution_count": count if isinstance(count, int) and count >= 0 else None,
            "outputs": outputs,
        }

    @property
    def started(self) -> bool:
        """Whether a cell has started (or the run ended): the live view has something."""
        return self.progress.cell is not None or bool(self.done)

    @property
    def has_notebook(self) -> bool:
        """Whether the runner sent the notebook's cells (a runner of before the live view,
        or a sweep's index, does not)."""
        return self.total is not None and bool(self.sources)

    def forget_outputs(self) -> None:
        """Drop what the collected executed notebook now holds (memory), keep the progress."""
        self.sources.clear()
        self.done.clear()
        self.total = None

    def notebook(self, header: dict[str, Any]) -> dict[str, Any]:
        """The run so far as an nbformat-4 notebook, `header` (job, phase, cell, total, ...)
        in its metadata under METADATA_KEY."""
        running = self.progress.index if self.progress.final is None else None
        cells = []
        for index in range(self.total or 0):
            source = self.sources.get(index) or {
                "cell_type": "raw",
                "id": None,
                "source": "[jupyter-k8s live view: this cell's source did not arrive]",
                "tags": [],
            }
            cell: dict[str, Any] = {
                "cell_type": source["cell_type"],
                "metadata": {"tags": source["tags"]} if source["tags"] else {},
                "source": source["source"],
            }
            if self.nbformat_minor >= 5:
                cell["id"] = source["id"] or f"live-{index}"
            if source["cell_type"] == "code":
                done = self.done.get(index)
                if done is not None:
                    state = done["state"]
                else:
                    state = RUNNING if index == running else PENDING
                cell["execution_count"] = done["execution_count"] if done else None
                cell["outputs"] = done["outputs"] if done else []
                cell["metadata"][METADATA_KEY] = {"state": state}
            cells.append(cell)
        metadata: dict[str, Any] = {METADATA_KEY: dict(header, source="log")}
        if self.kernelspec:
            metadata["kernelspec"] = self.kernelspec
        if self.language:
            metadata["language_info"] = {"name": self.language}
        return {
            "nbformat": 4,
            "nbformat_minor": self.nbformat_minor,
            "metadata": metadata,
            "cells": cells,
        }


def from_notebook(nb: Any, header: dict[str, Any], origin: str) -> dict[str, Any] | None:
    """The live view of a notebook papermill saved (shared staging as it runs, or the
    executed notebook of a finished job): its cells with outputs capped, each code cell
    marked from papermill's metadata. None when it is not a notebook, or no cell started
    (papermill saves the notebook once before the first cell)."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    budget = LIVE_OUTPUT_MAX
    started = False
    cells = []
    code = 0  # code cells so far
    at: tuple[int, str] | None = None  # the running (or last started) code cell, its line
    for index, raw in enumerate(nb["cells"][:MAX_CELLS]):
        if not isinstance(raw, dict):
            continue
        cell_type = str(raw.get("cell_type")) if raw.get("cell_type") in _CELL_TYPES else "raw"
        meta: dict[str, Any] = raw["metadata"] if isinstance(raw.get("metadata"), dict) else {}
        text = raw.get("source")
        if isinstance(text, list):
            text = "".join(s for s in text if isinstance(s, str))
        cell: dict[str, Any] = {
            "cell_type": cell_type,
            "metadata": dict(meta),
            "source": text if isinstance(text, str) else "",
        }
        if isinstance(raw.get("id"), str):
            cell["id"] = clean_text(raw["id"], 64)
        elif nb.get("nbformat_minor", 4) >= 5:
            cell["id"] = f"live-{index}"
        if cell_type == "code":
            papermill = meta.get("papermill")
            status = papermill.get("status") if isinstance(papermill, dict) else None
            state = _PAPERMILL_STATE.get(status, DONE) if isinstance(status, str) else DONE
            started = started or state != PENDING
            code += 1
            if state != PENDING:
                at = (code, first_line(cell["source"]))
            outputs, used = cap_outputs(raw.get("outputs"), budget)
            budget -= used
            count = raw.get("execution_count")
            cell["execution_count"] = count if isinstance(count, int) else None
            cell["outputs"] = outputs
            cell["metadata"][METADATA_KEY] = {"state": state}
        cells.append(cell)
    if not started and not _no_papermill(nb):
        return None
    metadata = dict(nb["metadata"]) if isinstance(nb.get("metadata"), dict) else {}
    header = dict(header, source=origin)
    if header.get("cell") is None and at is not None:
        # The file can be ahead of the job's status (papermill saves it as a cell starts,
        # before the server reads that cell's marker in the log): say what the file says.
        header.update(cell=at[0], total=code, line=at[1])
    metadata[METADATA_KEY] = header
    spec = kernelspec(metadata.pop("kernelspec", None))
    if spec:
        metadata["kernelspec"] = spec
    minor = nb.get("nbformat_minor")
    return {
        "nbformat": 4,
        "nbformat_minor": minor if isinstance(minor, int) and 0 <= minor <= 5 else 4,
        "metadata": metadata,
        "cells": cells,
    }


def _no_papermill(nb: dict[str, Any]) -> bool:
    """A notebook without papermill's metadata (not saved by papermill): its cells are what
    they are, all 'done'."""
    meta = nb.get("metadata")
    return not (isinstance(meta, dict) and isinstance(meta.get("papermill"), dict))


def progress_line(cell: int | None, total: int | None, line: str | None) -> str | None:
    """'cell 3/5: for epoch in range(10):' (None without a cell)."""
    if cell is None:
        return None
    text = f"cell {cell}/{total}" if total else f"cell {cell}"
    return f"{text}: {line}" if line else text
