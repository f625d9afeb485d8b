"""The provenance stamp: what ran where, written into every executed notebook (pure).

Afterwards a notebook says which job made it, with which parameters, profile and image (as
requested and as the node resolved it: the container's `imageID`), on which node and GPUs,
when, for how long, how it ended and, where the profile has a `cost_per_hour`, what it cost.
The block goes under `metadata.jupyter_k8s` of the notebook (nbformat allows any key there),
and into the Job's annotation ANN_PROVENANCE so that the job detail shows it too.

Everything here is read back from the cluster, where whoever can write the namespace's pods
and Jobs can write anything: each value is checked (type, length, characters) and left out
when it does not pass, and the block as a whole is validated by the `Provenance` model.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..k8s.objects import parse_time
from .models import JobInfo, JobPhase, Provenance
from .objects import CONTAINER

Obj = dict[str, Any]

#: The key of the notebook's metadata the block goes under.
METADATA_KEY = "jupyter_k8s"
#: The Job annotation that keeps the block (without the parameters, which the Job's
#: parameters annotation already holds) for the job detail.
ANN_PROVENANCE = "jupyter-k8s.io/provenance"
#: A notebook larger than this is not parsed to be stamped (shared staging: any size can
#: come back); it is kept as it is.
STAMP_MAX_BYTES = 256 * 1024 * 1024
#: More than this in the annotation is not read back (it is a few hundred bytes).
ANNOTATION_MAX_BYTES = 16 * 1024

_NO_CONTROL = re.compile(r"[^\x00-\x1f\x7f]+")
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_RESOURCE_NAME = re.compile(
    r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_INTEGER = re.compile(r"[0-9]{1,4}")


def _text(value: Any, max_length: int, pattern: re.Pattern[str] = _NO_CONTROL) -> str | None:
    """`value` if it is a string of at most `max_length` that `pattern` matches whole."""
    if isinstance(value, str) and 0 < len(value) <= max_length and pattern.fullmatch(value):
        return value
    return None


def _runner_status(pod: Obj) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses")
    if not isinstance(statuses, list):
        return {}
    for status in statuses:
        if isinstance(status, dict) and status.get("name") == CONTAINER:
            return status
    return {}


def _runner_limits(pod: Obj) -> Obj:
    containers = (pod.get("spec") or {}).get("containers")
    for ctr in containers if isinstance(containers, list) else []:
        if isinstance(ctr, dict) and ctr.get("name") == CONTAINER:
            limits = (ctr.get("resources") or {}).get("limits")
            return limits if isinstance(limits, dict) else {}
    return {}


def _gpus(pod: Obj, wanted: str | None) -> tuple[str | None, int]:
    """(resource name, count) of the GPUs the runner's container was given: the profile's
    resource where the pod asks for it, else the first extended resource named like a GPU."""
    limits = _runner_limits(pod)
    names = [wanted] if wanted in limits else []
    names += sorted(k for k in limits if isinstance(k, str) and "gpu" in k.rsplit("/", 1)[-1])
    for name in names:
        count = _text(str(limits[name]), 4, _INTEGER)
        if _text(name, 317, _RESOURCE_NAME) and count is not None and int(count) > 0:
            return name, int(count)
    return None, 0


def gpu_product(node: Obj | None, resource: str | None) -> str | None:
    """The node's GPU product label: `nvidia.com/gpu.product` (GPU feature discovery), or the
    like for another vendor's resource (`amd.com/gpu.product-name`)."""
    if node is None or resource is None:
        return None
    labels = (node.get("metadata") or {}).get("labels")
    if not isinstance(labels, dict):
        return None
    for key in (f"{resource}.product", f"{resource}.product-name"):
        value = _text(labels.get(key), 63, _LABEL_VALUE)
        if value is not None:
            return value
    return None


def _times(pod: Obj | None, info: JobInfo) -> tuple[datetime | None, datetime | None]:
    """When the notebook's container started and ended; the job's times where the pod's
    state does not say (a pod deleted before it reported its end)."""
    started, finished = info.started, info.finished
    if pod is not None:
        state = _runner_status(pod).get("state")
        for kind, details in (state if isinstance(state, dict) else {}).items():
            if kind in ("running", "terminated") and isinstance(details, dict):
                started = parse_time(details.get("startedAt")) or started
            if kind == "terminated" and isinstance(details, dict):
                finished = parse_time(details.get("finishedAt")) or finished
    if started and finished and finished < started:
        finished = None
    return started, finished


def _reason(info: JobInfo) -> str:
    if info.phase == JobPhase.CANCELLED:
        return "Cancelled"  # also while the Job still says "Cancelling"
    reason = _text(info.reason, 128)
    return reason or info.phase.value


def stamp(
    info: JobInfo,
    pod: Obj | None,
    node: Obj | None = None,
    *,
    gpu_resource: str | None = None,
    cost_per_hour: float | None = None,
) -> Provenance:
    """The provenance of a finished job: `info` is its status (from the Job, its pods and
    events), `pod` the pod that ran the notebook (its last known state), `node` the Node it
    ran on where the server may read it; `gpu_resource` the profile's GPU resource name."""
    spec = (pod or {}).get("spec") or {}
    resource, count = _gpus(pod or {}, gpu_resource)
    started, finished = _times(pod, info)
    duration = (finished - started).total_seconds() if started and finished else None
    hours = (duration or 0.0) / 3600
    return Provenance(
        job_id=info.id,
        parameters=info.parameters,
        profile=_text(info.profile, 63),
        image=_text(info.image, 1024),
        image_digest=_text(_runner_status(pod or {}).get("imageID"), 1024),
        node=_text(spec.get("nodeName"), 253, _NODE_NAME),
        gpu_resource=resource,
        gpu_count=count,
        gpu_product=gpu_product(node, resource) if count else None,
        started=started,
        finished=finished,
        duration_seconds=None if duration is None else round(duration, 3),
        outcome=info.phase,
        reason=_reason(info),
        gpu_hours=round(count * hours, 6),
        cost_per_hour=cost_per_hour,
        cost=None if cost_per_hour is None or duration is None else round(cost_per_hour * hours, 6),
    )


def block(provenance: Provenance) -> dict[str, Any]:
    """The block as JSON values, unset fields left out (what a notebook's metadata gets)."""
    return provenance.model_dump(mode="json", exclude_none=True)


def annotation(provenance: Provenance) -> str:
    """The block for the Job's annotation: without the parameters (already annotated)."""
    data = block(provenance)
    data.pop("parameters", None)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def from_annotation(job: Obj, parameters: dict[str, Any]) -> Provenance | None:
    """The block kept in the Job's annotation, with the job's parameters; None when there
    is none or what is there does not pass (anyone who may edit the Job may write it)."""
    text = ((job.get("metadata") or {}).get("annotations") or {}).get(ANN_PROVENANCE)
    if not isinstance(text, str) or len(text) > ANNOTATION_MAX_BYTES:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            return None
        return Provenance.model_validate({**data, "parameters": parameters})
    except (ValueError, ValidationError):
        return None


def add_to_notebook(data: bytes, provenance: Provenance) -> bytes | None:
    """The notebook `data` with the block in its metadata, written as nbformat writes
    notebooks (sorted keys, one-space indent, a final newline); None when `data` is not a
    version 4 notebook (or too large to parse here): the caller keeps it as it is."""
    if len(data) > STAMP_MAX_BYTES:
        return None
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if (
        not isinstance(nb, dict)
        or nb.get("nbformat") != 4
        or not isinstance(nb.get("cells"), list)
        or not isinstance(nb.get("metadata", {}), dict)
    ):
        return None
    nb.setdefault("metadata", {})[METADATA_KEY] = block(provenance)
    return (json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
