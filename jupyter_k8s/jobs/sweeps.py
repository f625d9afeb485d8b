"""Parameter sweeps, the pure part: combinations, index sets, per-index status, results table.

A sweep runs one notebook for many parameter sets as ONE Indexed Job (see
`objects.make_job`): index k runs parameter set k (the runner reads `JOB_COMPLETION_INDEX`)
and writes `<stem>.<unique>-<k>.ipynb`. What a notebook records with
`jupyter_k8s_record(name, value)` lands in that output's metadata (`METADATA_KEY`), from
which `results_table` builds the table parameters x recorded values. No I/O here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import keyword
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

#: More combinations than this is a mistake more often than a plan (and each is a pod).
MAX_COMBINATIONS = 1000
#: The executed notebook's metadata key the runner writes (pod/runner.py's stamp_sweep).
METADATA_KEY = "jupyter_k8s_sweep"
#: The pod annotation the Job controller sets on an Indexed Job's pods.
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

SweepMode = Literal["grid", "zip"]


class SweepSpec(BaseModel):
    """What a user asks for: lists of values, combined as a grid or zipped."""

    model_config = ConfigDict(extra="forbid")

    mode: SweepMode = Field(default="grid", description="grid: every combination; zip: i-th")
    parameters: dict[str, list[JsonValue]] = Field(
        description="parameter name -> the list of its values"
    )

    @field_validator("parameters", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        # Before pydantic's own check, to say what is wrong in the user's words.
        if not isinstance(value, dict) or not value:
            raise ValueError("a sweep needs at least one parameter with a list of values")
        for name, values in value.items():
            if not isinstance(values, list):
                raise ValueError(f"{name!r} must be a list of values, not {type(values).__name__}")
            if not values:
                raise ValueError(f"{name!r} has no values")
        return value

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name in value:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"{name!r} is not a valid parameter name (a Python identifier)")
        return value

    @model_validator(mode="after")
    def _adds_up(self) -> SweepSpec:
        self.combinations()  # zip lengths, the count: a 400 at submit, not at the pod
        return self

    def combinations(self) -> list[dict[str, Any]]:
        """The parameter sets, index k first to last; ValueError when they do not add up."""
        return combinations(self.mode, self.parameters)


IndexOutputState = Literal["none", "pending", "ready", "error"]


class IndexInfo(BaseModel):
    """One index of a sweep: its parameter set and how it went."""

    index: int
    parameters: dict[str, Any] = Field(default_factory=dict)
    phase: str = Field(description="Pending, Running, Succeeded, Failed or Cancelled")
    reason: str | None = None
    message: str | None = None
    output_path: str | None = None
    output_state: IndexOutputState = "none"
    output_error: str | None = None


class SweepInfo(BaseModel):
    """A sweep's indexes, counted and one by one (built by `status.sweep_info`)."""

    total: int
    parallelism: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    cancelled: int = 0
    indexes: list[IndexInfo] = Field(default_factory=list)


def combinations(mode: str, parameters: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """grid: the cartesian product, the last parameter varying fastest; zip: i-th values.

    ValueError: zipped lists of different lengths, more than MAX_COMBINATIONS sets.
    """
    names = list(parameters)
    if mode == "zip":
        lengths = {name: len(values) for name, values in parameters.items()}
        if len(set(lengths.values())) > 1:
            said = ", ".join(f"{n}: {k}" for n, k in lengths.items())
            raise ValueError(f"zipped parameters need lists of the same length ({said})")
        count = next(iter(lengths.values()), 0)
    elif mode == "grid":
        count = 1
        for values in parameters.values():
            count *= len(values)
    else:
        raise ValueError(f"unknown sweep mode {mode!r} (grid or zip)")
    if count > MAX_COMBINATIONS:
        raise ValueError(
            f"the sweep has {count} parameter sets, over the limit of {MAX_COMBINATIONS}"
        )
    rows = (
        zip(*parameters.values(), strict=True)
        if mode == "zip"
        else itertools.product(*parameters.values())
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def as_zip(sets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A zip sweep that runs exactly these parameter sets (a rerun of some indexes)."""
    names = list(sets[0]) if sets else []
    return {"mode": "zip", "parameters": {n: [s.get(n) for s in sets] for n in names}}


def indexed_output_path(output_path: str, index: int) -> str:
    """`<stem>.<unique>.ipynb` -> `<stem>.<unique>-<index>.ipynb` (the runner does the same)."""
    folder, name = posixpath.split(output_path)
    stem = name[: -len(".ipynb")] if name.endswith(".ipynb") else name
    indexed = f"{stem}-{int(index)}.ipynb"
    return posixpath.join(folder, indexed) if folder else indexed


def parse_indexes(text: str | None) -> set[int]:
    """An Indexed Job's "1,3-5,7" (status.completedIndexes / failedIndexes) as a set."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            continue  # untrusted text: skip what is not an interval
        low = int(m.group(1))
        high = int(m.group(2) or low)
        found.update(range(low, min(high, low + MAX_COMBINATIONS) + 1))
    return found


def pod_index(pod: Mapping[str, Any]) -> int | None:
    """The completion index of an Indexed Job's pod (its annotation), or None."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_ANNOTATION)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


# -- results ------------------------------------------------------------------------------------


def sweep_metadata(notebook: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the runner stamped into an executed notebook of a sweep (empty if nothing)."""
    meta = ((notebook or {}).get("metadata") or {}).get(METADATA_KEY)
    return meta if isinstance(meta, dict) else {}


def results_table(
    sets: Sequence[Mapping[str, Any]],
    indexes: Sequence[Mapping[str, Any]],
    outputs: Mapping[int, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """{"parameters": names, "records": names, "rows": [...]}, one row per index.

    `indexes`: the per-index status (see `status.sweep_info`'s `indexes`); `outputs`: the
    executed notebooks read back, by index (None where there is none yet). A row holds the
    index, its parameters, phase, reason, message, output path and the recorded values (the
    last value recorded under a name wins).
    """
    by_index = {int(i["index"]): i for i in indexes}
    param_names: list[str] = list(dict.fromkeys(n for s in sets for n in s))
    record_names: list[str] = []
    rows = []
    for k, params in enumerate(sets):
        state = by_index.get(k, {})
        stamped = sweep_metadata(outputs.get(k))
        records: dict[str, Any] = {}
        for item in stamped.get("records") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                records[item["name"]] = item.get("value")
        for name in records:
            if name not in record_names:
                record_names.append(name)
        rows.append(
            {
                "index": k,
                "parameters": dict(params),
                "phase": state.get("phase", "Pending"),
                "reason": state.get("reason"),
                "message": state.get("message"),
                "output_path": state.get("output_path"),
                "records": records,
            }
        )
    return {"parameters": param_names, "records": record_names, "rows": rows}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def results_csv(table: Mapping[str, Any]) -> str:
    """The results table as CSV: index, phase, reason, the parameters, the records."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "phase", "reason", *table["parameters"], *table["records"]])
    for row in table["rows"]:
        writer.writerow(
            [
                row["index"],
                row["phase"],
                row["reason"] or "",
                *(_cell(row["parameters"].get(n)) for n in table["parameters"]),
                *(_cell(row["records"].get(n)) for n in table["records"]),
            ]
        )
    return out.getvalue()
