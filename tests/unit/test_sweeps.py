"""Parameter sweeps: combinations, the Indexed Job, the runner's index, status and results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import golden, notebook, write_notebook

from jupyter_k8s.errors import ValidationProblem
from jupyter_k8s.jobs.models import JobPhase, SubmitRequest
from jupyter_k8s.jobs.objects import JobBuild, make_job, make_runner_config
from jupyter_k8s.jobs.status import job_info
from jupyter_k8s.jobs.sweeps import (
    MAX_COMBINATIONS,
    SweepSpec,
    as_zip,
    combinations,
    indexed_output_path,
    parse_indexes,
    results_csv,
    results_table,
)
from jupyter_k8s.pod import runner
from jupyter_k8s.profiles import load_profiles

PROFILES = load_profiles(
    [{"name": "cpu", "cpu_request": "1", "memory_limit": "1Gi", "max_parallelism": 3}], "img:1"
)
SETS = [{"lr": 0.1, "batch": 32}, {"lr": 0.1, "batch": 64}, {"lr": 0.01, "batch": 32}]

SWEEP_BUILD = JobBuild(
    name="nb-train-abc123",
    namespace="team",
    owner="alice",
    notebook_path="ml/train.ipynb",
    parameters={"epochs": 2},
    profile=PROFILES.get("cpu"),
    image="img:1",
    output_path="ml/train.abc123.ipynb",
    ttl_seconds=604800,
    sweep=tuple(SETS),
    parallelism=2,
)


# -- combinations and validation ----------------------------------------------------------------


def test_grid_varies_the_last_parameter_fastest():
    assert combinations("grid", {"lr": [0.1, 0.01], "batch": [32, 64]}) == [
        {"lr": 0.1, "batch": 32},
        {"lr": 0.1, "batch": 64},
        {"lr": 0.01, "batch": 32},
        {"lr": 0.01, "batch": 64},
    ]


def test_zip_pairs_the_ith_values():
    assert combinations("zip", {"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert as_zip(SETS) == {
        "mode": "zip",
        "parameters": {"lr": [0.1, 0.1, 0.01], "batch": [32, 64, 32]},
    }
    assert SweepSpec.model_validate(as_zip(SETS)).combinations() == SETS


@pytest.mark.parametrize(
    ("sweep", "said"),
    [
        ({"mode": "zip", "parameters": {"a": [1, 2], "b": [1]}}, "same length (a: 2, b: 1)"),
        ({"parameters": {"a": list(range(40)), "b": list(range(40))}}, "1600 parameter sets"),
        ({"parameters": {"a": 3}}, "'a' must be a list of values"),
        ({"parameters": {"a": []}}, "'a' has no values"),
        ({"parameters": {}}, "at least one parameter"),
        ({"parameters": {"1a": [1]}}, "not a valid parameter name"),
        ({"mode": "random", "parameters": {"a": [1]}}, "mode"),
    ],
)
def test_bad_sweeps_are_400s_that_say_why(sweep, said):
    with pytest.raises(ValidationProblem, match="sweep") as caught:
        SubmitRequest.from_json({"notebook": "a.ipynb", "sweep": sweep})
    assert said in str(caught.value)


def test_parallelism_below_one_is_refused():
    with pytest.raises(ValidationProblem, match="parallelism"):
        SubmitRequest.from_json(
            {"notebook": "a.ipynb", "sweep": {"parameters": {"a": [1]}}, "parallelism": 0}
        )
    assert MAX_COMBINATIONS == 1000


def test_submit_fields_cap_parallelism_by_the_profile():
    from jupyter_k8s.jobs.sweep_runs import submit_fields

    req = SubmitRequest.from_json(
        {
            "notebook": "a.ipynb",
            "parameters": {"epochs": 2},
            "sweep": {"parameters": {"lr": [0.1, 0.01]}},
            "parallelism": 8,
        }
    )
    fields, checked, warnings = submit_fields(req, PROFILES.get("cpu"))
    assert fields == {"sweep": ({"lr": 0.1}, {"lr": 0.01}), "parallelism": 3}
    assert checked == {"epochs": 2, "lr": 0.1}
    assert "limit" in warnings[0]
    plain = SubmitRequest.from_json({"notebook": "a.ipynb", "parallelism": 2})
    with pytest.raises(ValidationProblem, match="sweeps only"):
        submit_fields(plain, PROFILES.get("cpu"))


# -- the Indexed Job ----------------------------------------------------------------------------


def test_sweep_job_matches_golden():
    job = make_job(SWEEP_BUILD)
    assert job == golden("job_sweep_indexed.json", job)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"], spec["backoffLimitPerIndex"]) == (3, 2, 0)
    assert "backoffLimit" not in spec and "maxFailedIndexes" not in spec
    assert [r["action"] for r in spec["podFailurePolicy"]["rules"]] == ["Ignore", "FailIndex"]


def test_plain_job_keeps_failing_the_job():
    from dataclasses import replace

    spec = make_job(replace(SWEEP_BUILD, sweep=(), parallelism=1))["spec"]
    assert "completionMode" not in spec and spec["completions"] == 1
    assert spec["podFailurePolicy"]["rules"][1]["action"] == "FailJob"


def test_runner_config_carries_every_set_over_the_shared_parameters():
    config = make_runner_config(SWEEP_BUILD)
    assert config["sweep"] == [{"epochs": 2, **s} for s in SETS]
    assert config["parameters"] == {"epochs": 2}


# -- the runner ---------------------------------------------------------------------------------


def test_runner_picks_its_index():
    config = {"output": "/w/out/train.abc123.ipynb", "sweep": SETS, "parameters": {}}
    assert runner.select_sweep_index(config, {"JOB_COMPLETION_INDEX": "2"}) == 2
    assert config["parameters"] == SETS[2]
    assert config["output"] == "/w/out/train.abc123-2.ipynb"
    assert config["output"].endswith(indexed_output_path("train.abc123.ipynb", 2))
    for env in ({}, {"JOB_COMPLETION_INDEX": "3"}):
        with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX|index 3"):
            runner.select_sweep_index({"output": "x.ipynb", "sweep": SETS}, env)
    assert runner.select_sweep_index({"output": "x.ipynb"}, {}) is None


def _run(tmp_path: Path, index: int) -> tuple[subprocess.CompletedProcess[str], dict]:
    nb = write_notebook(
        tmp_path / "train.ipynb",
        notebook(
            "jupyter_k8s_record('loss', lr * batch)\nprint('trained', lr, batch)",
            "if batch == 64:\n    raise ValueError('too big')",
            "jupyter_k8s_record('done', True)",
            parameters="lr = 1.0\nbatch = 1",
        ),
    )
    config = {
        "input": str(nb),
        "output": str(tmp_path / "out" / "train.abc123.ipynb"),
        "parameters": {},
        "sweep": SETS,
        "kernel_name": "python3",
        "language": "python",
        "cwd": str(tmp_path),
        "output_mode": "shared",
        "work_dir": str(tmp_path / "work"),
        "termination_log": "",
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, runner.__file__, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JOB_COMPLETION_INDEX": str(index)},
    )
    out = tmp_path / "out" / f"train.abc123-{index}.ipynb"
    return proc, json.loads(out.read_text())


def test_runner_records_into_the_log_and_the_metadata(tmp_path):
    proc, nb = _run(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = nb["metadata"]["jupyter_k8s_sweep"]
    assert meta["index"] == 2 and meta["parameters"] == SETS[2]
    assert meta["records"] == [{"name": "loss", "value": 0.32}, {"name": "done", "value": True}]
    assert meta["outcome"] == "succeeded"
    assert '{"event": "record", "name": "loss", "value": 0.32}' in proc.stdout
    injected = nb["cells"][1]
    assert "injected-parameters" in injected["metadata"]["tags"]
    assert "def jupyter_k8s_record" in "".join(injected["source"])


def test_failing_index_keeps_its_traceback_and_records(tmp_path):
    proc, nb = _run(tmp_path, 1)
    assert proc.returncode == 1
    meta = nb["metadata"]["jupyter_k8s_sweep"]
    assert meta["outcome"] == "failed" and meta["error"]["ename"] == "ValueError"
    assert meta["records"] == [{"name": "loss", "value": 6.4}]
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors and errors[0]["evalue"] == "too big"


# -- status and results -------------------------------------------------------------------------


def _pod(index: int, state: dict, phase: str) -> dict:
    return {
        "metadata": {
            "name": f"nb-train-abc123-{index}-x",
            "creationTimestamp": "2024-05-01T10:00:01Z",
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "spec": {"containers": [{"name": "runner"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "runner", "state": state}],
        },
    }


FAILED = {
    "terminated": {
        "exitCode": 1,
        "message": '##jupyter-k8s## {"event": "failed", "ename": "ValueError", '
        '"evalue": "too big", "cell": 2, "exec_count": 3}',
        "startedAt": "2024-05-01T10:01:00Z",
        "finishedAt": "2024-05-01T10:02:00Z",
    }
}
DONE = {"terminated": {"exitCode": 0, "startedAt": "2024-05-01T10:01:00Z"}}
RUNNING = {"running": {"startedAt": "2024-05-01T10:01:00Z"}}


def _job(status: dict, annotations: dict | None = None) -> dict:
    job = make_job(SWEEP_BUILD)
    job["metadata"].update(uid="u", creationTimestamp="2024-05-01T10:00:00Z")
    job["metadata"]["annotations"].update(annotations or {})
    job["status"] = status
    return job


def test_parse_indexes():
    assert parse_indexes("0-2,4, 7") == {0, 1, 2, 4, 7}
    assert parse_indexes(None) == set() and parse_indexes("x,3") == {3}


def test_running_sweep_counts_its_indexes():
    job = _job({"completedIndexes": "0", "failedIndexes": "1", "active": 1})
    pods = [_pod(0, DONE, "Succeeded"), _pod(1, FAILED, "Failed"), _pod(2, RUNNING, "Running")]
    info = job_info(job, pods, [])
    assert info.phase == JobPhase.RUNNING and info.output_state == "pending"
    sweep = info.sweep
    assert (sweep.total, sweep.succeeded, sweep.failed, sweep.running) == (3, 1, 1, 1)
    failed = sweep.indexes[1]
    assert failed.phase == "Failed" and failed.reason == "NotebookFailed"
    assert failed.message == "ValueError: too big (in cell [3])"
    assert failed.parameters == {"epochs": 2, **SETS[1]}
    assert failed.output_path == "ml/train.abc123-1.ipynb"


def test_finished_sweep_with_a_failed_index():
    status = {
        "completedIndexes": "0,2",
        "failedIndexes": "1",
        "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "FailedIndexes"},
            {"type": "Failed", "status": "True", "reason": "FailedIndexes"},
        ],
    }
    pods = [_pod(0, DONE, "Succeeded"), _pod(1, FAILED, "Failed"), _pod(2, DONE, "Succeeded")]
    ann = {f"jupyter-k8s.io/output-{k}": "ready" for k in range(3)}
    info = job_info(_job(status, ann), pods, [])
    assert info.phase == JobPhase.FAILED and info.reason == "FailedIndexes"
    assert info.message.startswith("1 of 3 parameter sets failed; index 1: NotebookFailed")
    assert info.output_state == "ready"
    # Not yet collected: the sweep's output is pending until each index's is.
    assert job_info(_job(status), pods, []).output_state == "pending"


def test_cancelled_sweep_says_cancelled_for_each_index():
    stopped = {"terminated": {"exitCode": 143, "startedAt": "2024-05-01T10:01:00Z"}}
    status = {
        "completedIndexes": "0",
        "failedIndexes": "1",
        "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}],
    }
    pods = [_pod(0, DONE, "Succeeded"), _pod(1, stopped, "Failed")]
    info = job_info(_job(status, {"jupyter-k8s.io/cancelled": "true"}), pods, [])
    assert info.phase == JobPhase.CANCELLED
    assert [i.phase for i in info.sweep.indexes] == ["Succeeded", "Cancelled", "Cancelled"]
    assert [i.output_state for i in info.sweep.indexes] == ["pending", "pending", "none"]
    assert info.sweep.cancelled == 2


def test_results_table_and_csv():
    indexes = [
        {"index": 0, "phase": "Succeeded", "output_path": "a-0.ipynb"},
        {"index": 1, "phase": "Failed", "reason": "NotebookFailed", "message": "ValueError"},
        {"index": 2, "phase": "Succeeded"},
    ]

    def out(*records):
        recs = [{"name": n, "value": v} for n, v in records]
        return {"metadata": {"jupyter_k8s_sweep": {"records": recs}}}

    outputs = {0: out(("loss", 0.5), ("loss", 0.4)), 1: None, 2: out(("loss", 0.3), ("acc", "x"))}
    table = results_table(SETS, indexes, outputs)
    assert table["parameters"] == ["lr", "batch"] and table["records"] == ["loss", "acc"]
    assert [r["records"] for r in table["rows"]] == [
        {"loss": 0.4},
        {},
        {"loss": 0.3, "acc": "x"},
    ]
    assert table["rows"][1]["reason"] == "NotebookFailed"
    assert results_csv(table).splitlines() == [
        "index,phase,reason,lr,batch,loss,acc",
        "0,Succeeded,,0.1,32,0.4,",
        "1,Failed,NotebookFailed,0.1,64,,",
        "2,Succeeded,,0.01,32,0.3,x",
    ]


def test_cli_reads_lists_of_values():
    from jupyter_k8s.cli import build_parser
    from jupyter_k8s.cli.sweep_commands import parse_values, sweep_request_data

    assert parse_values("0.1,0.01") == [0.1, 0.01]
    assert parse_values("[[1, 2], [3]]") == [[1, 2], [3]]
    assert parse_values("adam, sgd") == ["adam", "sgd"]
    args = build_parser().parse_args(
        ["sweep", "a.ipynb", "-p", "lr", "0.1,0.01", "-r", "opt", "1,2", "--parallel", "3", "--zip"]
    )
    data = sweep_request_data(args, "a.ipynb")
    assert data["sweep"] == {"mode": "zip", "parameters": {"lr": [0.1, 0.01], "opt": ["1", "2"]}}
    assert data["parallelism"] == 3
    assert SubmitRequest.from_json(data).sweep.combinations()[1] == {"lr": 0.01, "opt": "2"}
