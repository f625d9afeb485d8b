"""The Job and ConfigMap builders, against golden dicts (tests/unit/golden/*.json).

To regenerate after an intended change: JUPYTER_K8S_UPDATE_GOLDEN=1 pytest this file, then
read the diff of the golden files like any other change.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from dataclasses import replace

import pytest
from builders import golden

from jupyter_k8s.errors import TooLargeProblem
from jupyter_k8s.jobs.objects import (
    JOB_SELECTOR,
    MAX_CONFIGMAP_BYTES,
    JobBuild,
    make_input_configmap,
    make_job,
    make_runner_config,
    output_path_for,
    set_owner,
)
from jupyter_k8s.k8s.objects import deep_merge
from jupyter_k8s.names import is_label_value
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles(
    [
        {
            "name": "a100",
            "image": "img:gpu",
            "cpu_request": "4",
            "cpu_limit": "8",
            "memory_request": "16Gi",
            "memory_limit": "16Gi",
            "gpus": 2,
            "node_selector": {"gpu": "a100"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "runtime_class_name": "nvidia",
            "env": {"OMP_NUM_THREADS": "4", "MODE": "profile"},
        },
        {
            "name": "data",
            "cpu_request": "500m",
            "memory_limit": "1Gi",
            "pod_overrides": {
                "priorityClassName": "batch-low",
                "securityContext": {"fsGroup": 100},
                "containers": [
                    {"name": "runner", "volumeMounts": [{"name": "datasets", "mountPath": "/data"}]}
                ],
                "volumes": [{"name": "datasets", "persistentVolumeClaim": {"claimName": "ds"}}],
            },
        },
    ],
    default_image="hub:1",
)

GPU_BUILD = JobBuild(
    name="nb-analysis-abc123",
    namespace="team",
    owner="alice@example.com",
    notebook_path="reports/analysis.ipynb",
    # Not in sorted order: the golden annotation and job.json pin that the user's order stays.
    parameters={"n": 3, "alpha": 0.5},
    profile=PROFILES.get("a100"),
    image="img:gpu",
    output_path=output_path_for("reports/analysis.ipynb", "abc123"),
    env={"MODE": "user", "X": "1"},
    secrets=("db-creds",),
    timeout_seconds=3600,
    retries=2,
    ttl_seconds=604800,
)

SHARED_BUILD = JobBuild(
    name="nb-train-zz9zz9",
    namespace="team",
    owner="bob",
    notebook_path="projects/ml/train.ipynb",
    parameters={},
    profile=PROFILES.get("data"),
    image="hub:1",
    output_path="projects/ml/train.zz9zz9.ipynb",
    staging="shared",
    shared_volume={"persistentVolumeClaim": {"claimName": "home-bob"}},
    shared_mount_path="/home/jovyan",
    runner_configmap_name="jupyter-k8s-runner",
    kernel_name="conda-env-ml-py",
    ship_folder=False,
    suspend=True,
)


def test_gpu_job_in_configmap_staging_matches_golden():
    assert make_job(GPU_BUILD) == golden("job_gpu_configmap.json", make_job(GPU_BUILD))


def test_shared_job_with_overrides_matches_golden():
    assert make_job(SHARED_BUILD) == golden("job_shared_overrides.json", make_job(SHARED_BUILD))


def test_input_configmap_matches_golden():
    owned = set_owner(
        make_input_configmap(
            GPU_BUILD,
            b'{"cells": [], "nbformat": 4}',
            "print('runner')\n",
            make_runner_config(GPU_BUILD),
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "nb-analysis-abc123", "uid": "1234-abcd"},
        },
    )
    assert owned == golden("configmap_input.json", owned)


def test_runner_config_in_both_stagings():
    assert make_runner_config(GPU_BUILD) == {
        "input": "/var/run/jupyter-k8s/job/notebook.ipynb.gz",
        "output": "/var/run/jupyter-k8s/work/output/analysis.abc123.ipynb",
        "parameters": {"n": 3, "alpha": 0.5},
        "kernel_name": "python3",
        "language": "python",
        "cwd": "/var/run/jupyter-k8s/work/cwd",
        "output_mode": "log",
        "max_output_bytes": 5 * 1024 * 1024,
        "work_dir": "/var/run/jupyter-k8s/work",
    }
    shared = make_runner_config(SHARED_BUILD)
    assert shared["output"] == "/home/jovyan/projects/ml/train.zz9zz9.ipynb"
    assert shared["cwd"] == "/home/jovyan/projects/ml"
    assert shared["output_mode"] == "shared"
    assert shared["kernel_name"] == "conda-env-ml-py"
    shipped = replace(GPU_BUILD, ship_folder=True)
    assert make_runner_config(shipped)["unpack"] == "/var/run/jupyter-k8s/job/folder.tar.gz"


def test_notebook_at_the_root_in_shared_staging():
    build = replace(SHARED_BUILD, notebook_path="top.ipynb")
    assert make_runner_config(build)["cwd"] == "/home/jovyan"
    container = make_job(build)["spec"]["template"]["spec"]["containers"][0]
    assert container["workingDir"] == "/home/jovyan"


def test_labels_are_valid_for_any_owner():
    for owner in ("alice", "Alice Smith", "a@b.c", "ü" * 80):
        build = replace(GPU_BUILD, owner=owner)
        job = make_job(build)
        assert all(is_label_value(v) for v in job["metadata"]["labels"].values())
        assert job["metadata"]["annotations"]["jupyter-k8s.io/username"] == owner


def test_selector_matches_the_labels():
    labels = make_job(GPU_BUILD)["metadata"]["labels"]
    for term in JOB_SELECTOR.split(","):
        key, value = term.split("=")
        assert labels[key] == value


def test_no_gpu_and_no_resources():
    build = replace(GPU_BUILD, profile=load_profiles([{"name": "bare"}], None).default)
    container = make_job(build)["spec"]["template"]["spec"]["containers"][0]
    assert "resources" not in container
    spec = make_job(build)["spec"]["template"]["spec"]
    assert "nodeSelector" not in spec and "tolerations" not in spec


def test_optional_job_fields_left_out():
    build = replace(GPU_BUILD, timeout_seconds=None, ttl_seconds=None, secrets=())
    job = make_job(build)
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert "suspend" not in job["spec"]
    assert "envFrom" not in job["spec"]["template"]["spec"]["containers"][0]


def test_parameters_keep_the_users_order():
    # papermill injects in the order given; the job must not sort them on the way.
    build = replace(GPU_BUILD, parameters={"msg": "x", "a": 3.5, "B": [2, 1]})
    annotation = make_job(build)["metadata"]["annotations"]["jupyter-k8s.io/parameters"]
    assert annotation == '{"msg":"x","a":3.5,"B":[2,1]}'
    config = make_runner_config(build)
    assert list(config["parameters"]) == ["msg", "a", "B"]
    configmap = make_input_configmap(build, b"{}", None, config)
    job_json = json.loads(configmap["data"]["job.json"])
    assert list(job_json["parameters"]) == ["msg", "a", "B"]
    assert list(job_json)[:3] == ["input", "output", "parameters"]  # the builder's order


def test_parameters_too_large_for_an_annotation():
    build = replace(GPU_BUILD, parameters={"blob": "x" * 70_000})
    with pytest.raises(TooLargeProblem, match="parameters") as info:
        make_job(build)
    assert info.value.status == 413


def test_configmap_too_large():
    # The notebook travels gzipped: what counts is its compressed size (random bytes don't
    # compress), while a large but repetitive notebook fits.
    with pytest.raises(TooLargeProblem, match="over the 1048576 bytes"):
        make_input_configmap(GPU_BUILD, os.urandom(MAX_CONFIGMAP_BYTES), "", {})
    assert make_input_configmap(GPU_BUILD, b"x" * 4 * MAX_CONFIGMAP_BYTES, "", {})


def test_configmap_binary_notebook_and_extra_files():
    cm = make_input_configmap(
        GPU_BUILD, b"\xff\xfe", None, "{}", extra_files={"folder.tar.gz": b"\x1f\x8b"}
    )
    assert set(cm["data"]) == {"job.json"}  # no runner: it has its own ConfigMap
    packed = base64.b64decode(cm["binaryData"]["notebook.ipynb.gz"])
    assert gzip.decompress(packed) == b"\xff\xfe"
    assert base64.b64decode(cm["binaryData"]["folder.tar.gz"]) == b"\x1f\x8b"
    with pytest.raises(ValueError):
        make_input_configmap(GPU_BUILD, b"{}", None, "{}", extra_files={"../x": b""})


def test_set_owner_needs_a_created_job():
    with pytest.raises(ValueError, match="uid"):
        set_owner({"metadata": {}}, make_job(GPU_BUILD))
    original = {"metadata": {"name": "x"}}
    owned = set_owner(original, {"metadata": {"name": "j", "uid": "u"}})
    assert "ownerReferences" not in original["metadata"]
    assert owned["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": "j",
            "uid": "u",
            "blockOwnerDeletion": False,
        }
    ]


def test_job_build_checks():
    with pytest.raises(ValueError, match="shared staging needs"):
        replace(GPU_BUILD, staging="shared")
    with pytest.raises(ValueError, match="unknown staging"):
        replace(GPU_BUILD, staging="s3")
    assert GPU_BUILD.configmap_name == "nb-analysis-abc123-input"
    assert replace(GPU_BUILD, name="nb-other-1").configmap_name == "nb-other-1-input"
    assert replace(GPU_BUILD, input_configmap_name="mine").configmap_name == "mine"


def test_output_path_for():
    assert output_path_for("a/b/c.ipynb", "x1") == "a/b/c.x1.ipynb"
    assert output_path_for("c.ipynb", "x1") == "c.x1.ipynb"


def test_deep_merge():
    base = {
        "a": {"b": 1, "c": [1, 2]},
        "containers": [{"name": "runner", "env": [{"name": "A", "value": "1"}]}],
    }
    override = {
        "a": {"c": [3], "d": 4},
        "containers": [
            {"name": "runner", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]},
            {"name": "sidecar", "image": "s"},
        ],
    }
    assert deep_merge(base, override) == {
        "a": {"b": 1, "c": [3], "d": 4},
        "containers": [
            {"name": "runner", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]},
            {"name": "sidecar", "image": "s"},
        ],
    }
    assert base["a"]["c"] == [1, 2]  # inputs untouched
