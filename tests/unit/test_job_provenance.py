"""The provenance stamp (jupyter_k8s/jobs/provenance.py) on what a real cluster sent.

The Jobs and pods are the last states of the recordings in tests/recordings/ (what the local
cluster's control plane and node agent wrote). The recorder trims the container's imageID
(and the recorded jobs ran on the CPU profile): where a test needs them, it adds them as a
node agent writes them, and says so.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from builders import notebook

from jupyter_k8s.jobs.models import JobInfo, JobPhase, Provenance
from jupyter_k8s.jobs.provenance import (
    ANN_PROVENANCE,
    METADATA_KEY,
    add_to_notebook,
    annotation,
    from_annotation,
    gpu_product,
    stamp,
)
from jupyter_k8s.jobs.status import job_info
from jupyter_k8s.profiles import Profile

Obj = dict[str, Any]
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
DIGEST = "localhost/jupyter-k8s/notebook@sha256:" + "ab" * 32


def last_state(name: str) -> tuple[Obj, Obj]:
    """The Job and its pod as the recording left them (the last change of each)."""
    last: dict[str, Obj] = {}
    for line in (RECORDINGS / f"{name}.jsonl").read_text().splitlines():
        change = json.loads(line)
        if change["resource"] in ("jobs", "pods") and change["type"] != "DELETED":
            last[change["resource"]] = change["object"]
    return last["jobs"], last["pods"]


def recorded(name: str, image_id: str | None = DIGEST) -> tuple[JobInfo, Obj]:
    job, pod = last_state(name)
    pod = copy.deepcopy(pod)
    if image_id is not None:  # trimmed by the recorder; the node agent reports it
        pod["status"]["containerStatuses"][0]["imageID"] = image_id
    return job_info(job, [pod], []), pod


def with_gpus(pod: Obj, count: Any, resource: str = "nvidia.com/gpu") -> Obj:
    pod = copy.deepcopy(pod)
    pod["spec"]["containers"][0]["resources"]["limits"] = {resource: count, "memory": "1Gi"}
    return pod


def test_a_succeeded_job():
    info, pod = recorded("job-succeeded")
    prov = stamp(info, pod)
    assert prov.job_id == "nb-nb-7sts3f"
    assert prov.profile == "cpu"
    assert prov.image == "localhost/jupyter-k8s/notebook:process-node"
    assert prov.image_digest == DIGEST
    assert prov.node == "dev-node"
    assert prov.outcome == JobPhase.SUCCEEDED
    assert prov.reason == "Succeeded"
    # The runner's container: started 13:45:07, finished 13:45:10.
    assert prov.started is not None and prov.started.isoformat() == "2026-11-29T13:45:07+00:00"
    assert prov.duration_seconds == 3.0
    assert (prov.gpu_resource, prov.gpu_count, prov.gpu_hours) == (None, 0, 0.0)
    assert prov.cost is None and prov.gpu_product is None


@pytest.mark.parametrize(
    ("recording", "outcome", "reason"),
    [
        ("job-notebook-error", JobPhase.FAILED, "NotebookFailed"),
        ("job-oomkilled", JobPhase.FAILED, "OOMKilled"),
    ],
)
def test_failed_jobs_say_why(recording, outcome, reason):
    info, pod = recorded(recording)
    prov = stamp(info, pod)
    assert (prov.outcome, prov.reason) == (outcome, reason)
    assert prov.node == "dev-node" and prov.image_digest == DIGEST


def test_a_cancelled_job_is_cancelled_even_while_cancelling():
    info, pod = recorded("job-succeeded")
    info = info.model_copy(
        update={"phase": JobPhase.CANCELLED, "reason": "Cancelling", "finished": None}
    )
    prov = stamp(info, pod)
    assert (prov.outcome, prov.reason) == (JobPhase.CANCELLED, "Cancelled")
    assert prov.duration_seconds == 3.0  # the pod's terminated state says when it ended


def test_a_pod_gone_before_it_reported_leaves_the_jobs_times():
    info, _pod = recorded("job-succeeded")
    prov = stamp(info, None)
    assert prov.node is None and prov.image_digest is None
    assert prov.started == info.started


def test_gpus_hours_and_cost():
    info, pod = recorded("job-succeeded")
    pod = with_gpus(pod, "2")
    node = {"metadata": {"name": "dev-node", "labels": {"nvidia.com/gpu.product": "NVIDIA-H200"}}}
    prov = stamp(info, pod, node, gpu_resource="nvidia.com/gpu", cost_per_hour=3.6)
    assert (prov.gpu_resource, prov.gpu_count, prov.gpu_product) == (
        "nvidia.com/gpu",
        2,
        "NVIDIA-H200",
    )
    assert prov.gpu_hours == round(2 * 3 / 3600, 6)
    assert prov.cost == pytest.approx(3.6 * 3 / 3600)
    # Another vendor's resource, found without the profile's word for it.
    amd = with_gpus(pod, 1, "amd.com/gpu")
    node = {"metadata": {"labels": {"amd.com/gpu.product-name": "MI300X"}}}
    prov = stamp(info, amd, node)
    assert (prov.gpu_resource, prov.gpu_count, prov.gpu_product) == ("amd.com/gpu", 1, "MI300X")


def test_the_unschedulable_recording_asks_for_two_gpus():
    job, pod = last_state("job-unschedulable")
    prov = stamp(job_info(job, [pod], []), pod, gpu_resource="nvidia.com/gpu")
    assert (prov.gpu_resource, prov.gpu_count, prov.gpu_hours) == ("nvidia.com/gpu", 2, 0.0)
    assert prov.started is None and prov.node is None


@pytest.mark.parametrize(
    "image_id",
    ["x" * 1025, "sha256:ab\ncd", 42, {"a": 1}, ""],
)
def test_untrusted_image_ids_are_left_out(image_id):
    info, pod = recorded("job-succeeded", image_id=image_id)
    assert stamp(info, pod).image_digest is None


def test_untrusted_node_names_gpu_counts_and_labels_are_left_out():
    info, pod = recorded("job-succeeded")
    pod["spec"]["nodeName"] = "Not a node\x1b[31m"
    assert stamp(info, pod).node is None
    for count in ("1e9", "-1", "0", True, None, "99999"):
        assert stamp(info, with_gpus(pod, count)).gpu_count == 0
    for label in ("x" * 64, "bad label", 7):
        node = {"metadata": {"labels": {"nvidia.com/gpu.product": label}}}
        assert gpu_product(node, "nvidia.com/gpu") is None
    assert gpu_product({"metadata": {"labels": None}}, "nvidia.com/gpu") is None
    assert gpu_product(None, "nvidia.com/gpu") is None


def test_a_profile_costs_without_gpus_too():
    info, pod = recorded("job-succeeded")
    prov = stamp(info, pod, cost_per_hour=1.2)
    assert (prov.cost_per_hour, prov.cost, prov.gpu_hours) == (1.2, pytest.approx(0.001), 0.0)


def test_the_profile_validates_cost_per_hour():
    assert Profile(name="p").cost_per_hour is None
    assert Profile(name="p", cost_per_hour=2.5).cost_per_hour == 2.5
    for bad in (-1, float("inf"), "much"):
        with pytest.raises(ValueError, match="cost_per_hour"):
            Profile(name="p", cost_per_hour=bad)


# -- into the notebook and the Job's annotation -------------------------------------------------


def test_the_block_goes_into_a_valid_notebook_as_nbformat_writes_it():
    info, pod = recorded("job-succeeded")
    info.parameters = {"lr": 0.1, "name": "ü"}
    prov = stamp(info, pod)
    nb = notebook("print(1)", parameters="lr = 1")
    data = nbformat.writes(nb).encode()
    stamped = add_to_notebook(data, prov)
    assert stamped is not None
    back = nbformat.reads(stamped.decode(), as_version=4)
    nbformat.validate(back)
    meta = back.metadata[METADATA_KEY]
    assert meta["job_id"] == "nb-nb-7sts3f" and meta["parameters"] == {"lr": 0.1, "name": "ü"}
    assert meta["image_digest"] == DIGEST and meta["outcome"] == "Succeeded"
    assert "gpu_product" not in meta and "cost" not in meta  # unset: left out
    # Only the block changed: the rest is as nbformat writes it.
    del back.metadata[METADATA_KEY]
    assert nbformat.writes(back) == data.decode()
    assert stamped.decode() == nbformat.writes(nbformat.reads(stamped.decode(), 4)) + "\n"
    # Stamping again replaces the block.
    assert add_to_notebook(stamped, prov) == stamped


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1]",
        b'{"nbformat": 3, "worksheets": []}',
        b'{"nbformat": 4, "cells": {}}',
        b'{"nbformat": 4, "cells": [], "metadata": []}',
    ],
)
def test_what_is_no_notebook_is_left_alone(data):
    info, pod = recorded("job-succeeded")
    assert add_to_notebook(data, stamp(info, pod)) is None


def test_the_annotation_round_trip_and_forgeries():
    info, pod = recorded("job-succeeded")
    info.parameters = {"lr": 0.1}
    prov = stamp(info, pod, cost_per_hour=1.0)
    text = annotation(prov)
    assert "lr" not in text  # the parameters annotation holds them already
    job = {"metadata": {"annotations": {ANN_PROVENANCE: text}}}
    assert from_annotation(job, {"lr": 0.1}) == prov
    for forged in (
        "{",
        "[]",
        json.dumps({"job_id": "x"}),
        json.dumps({"job_id": "x" * 300, "outcome": "Succeeded", "reason": "r"}),
        "x" * 20000,
        None,
        5,
    ):
        job = {"metadata": {"annotations": {ANN_PROVENANCE: forged}}}
        assert from_annotation(job, {}) is None
    assert from_annotation({"metadata": {}}, {}) is None


def test_the_model_refuses_unknown_keys():
    with pytest.raises(ValueError):
        Provenance(job_id="j", outcome=JobPhase.SUCCEEDED, reason="Succeeded", extra=1)  # type: ignore[call-arg]


def test_jupyter_k8s_status_prints_it():
    from jupyter_k8s.cli.render import provenance_fields

    info, pod = recorded("job-notebook-error")
    rows = dict(provenance_fields(stamp(info, with_gpus(pod, 1), cost_per_hour=2.0)))
    assert rows["Outcome"] == "Failed (NotebookFailed)"
    assert rows["Image digest"] == DIGEST and rows["Node"] == "dev-node"
    assert rows["GPUs"] == "1 x nvidia.com/gpu" and rows["GPU-hours"] == "0.0006"
    assert rows["Duration"] == "2s" and rows["Cost"] == "0.0011 (2 per hour)"
    info, pod = recorded("job-succeeded", image_id=None)
    rows = dict(provenance_fields(stamp(info, pod)))
    assert rows["Outcome"] == "Succeeded" and rows["Image digest"] == "-"
    assert "GPUs" not in rows and "Cost" not in rows
