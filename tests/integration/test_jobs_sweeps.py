"""A parameter sweep through the REST API of a real Jupyter server, on the local cluster.

A 2x3 grid with parallelism 2 and the default configuration, one index made to fail: the
five others succeed, six outputs come back (the failed one with its traceback), each with
its own injected parameters; the results table has five rows of recorded values and one
failure with its reason; a rerun of the failed indexes runs only that parameter set. A
cancel stops every index (the running ones keep their notebooks). The CLI runs a zipped
sweep and prints its results as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, user_kubeconfig

pytestmark = [pytest.mark.integration]

SWEEP_NB = notebook(
    "if lr == 0.01 and batch == 32:\n    raise ValueError(f'diverged at lr={lr} batch={batch}')",
    "print('trained', lr, batch)\njupyter_k8s_record('loss', lr * batch)",
    parameters="lr = 1.0\nbatch = 1",
)
SLOW_NB = notebook(
    "print('started', n, flush=True)", "import time\ntime.sleep(120)", parameters="n = 0"
)
LRS, BATCHES = [0.1, 0.01], [16, 32, 64]
FAILING = {"lr": 0.01, "batch": 32}  # index 4 of the grid (the last parameter varies fastest)


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweeps") / "work"
    write_notebook(root / "ml" / "train.ipynb", SWEEP_NB)
    write_notebook(root / "slow.ipynb", SLOW_NB)
    return root


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, workspace) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, workspace.parent / "user.kubeconfig"
    )
    srv = ServerProcess(workspace, kubeconfig, namespace)  # the default configuration
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.asyncio
async def test_grid_sweep_with_a_failing_index(server: ServerProcess, workspace: Path):
    body = {
        "notebook": "ml/train.ipynb",
        "sweep": {"mode": "grid", "parameters": {"lr": LRS, "batch": BATCHES}},
        "parallelism": 2,
    }
    _, created = await server.call("POST", "/jobs", body, expect=201)
    job = created["job"]
    assert job["sweep"]["total"] == 6 and job["sweep"]["parallelism"] == 2
    sets = [i["parameters"] for i in job["sweep"]["indexes"]]
    assert sets == [{"lr": lr, "batch": b} for lr in LRS for b in BATCHES]
    assert sets[4] == FAILING

    done = await server.wait_job(job["id"], finished, timeout=300)
    sweep = done["sweep"]
    assert (sweep["succeeded"], sweep["failed"]) == (5, 1), done
    assert done["phase"] == "Failed" and done["reason"] == "FailedIndexes", done
    failed = sweep["indexes"][4]
    assert failed["phase"] == "Failed" and failed["reason"] == "NotebookFailed", failed
    assert "diverged at lr=0.01 batch=32" in failed["message"]

    # Six outputs, each with its own parameters injected; the failed one holds the traceback.
    for index in sweep["indexes"]:
        assert index["output_state"] == "ready", index
        path = workspace / index["output_path"]
        assert path.name == f"train.{job['id'][-6:]}-{index['index']}.ipynb"
        executed = json.loads(path.read_text())
        injected = next(
            c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
        )
        params = index["parameters"]
        source = "".join(injected["source"])
        assert f"lr = {params['lr']}" in source and f"batch = {params['batch']}" in source
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        errors = [o for o in outputs if o["output_type"] == "error"]
        if index["index"] == 4:
            assert errors and errors[0]["ename"] == "ValueError" and errors[0]["traceback"]
        else:
            assert not errors
        assert executed["metadata"]["jupyter_k8s_sweep"]["index"] == index["index"]

    # The results table: five rows of values, one failure with its reason.
    _, table = await server.call("GET", f"/jobs/{job['id']}/results", expect=200)
    assert table["parameters"] == ["lr", "batch"] and table["records"] == ["loss"]
    rows = table["rows"]
    assert len(rows) == 6
    for row in rows:
        if row["index"] == 4:
            assert row["phase"] == "Failed" and row["reason"] == "NotebookFailed"
            assert row["records"] == {}
        else:
            p = row["parameters"]
            assert row["phase"] == "Succeeded"
            assert row["records"]["loss"] == pytest.approx(p["lr"] * p["batch"])
    _, text = await server.call("GET", f"/jobs/{job['id']}/results?format=csv", expect=200)
    lines = list(csv.reader(io.StringIO(text.decode())))
    assert lines[0] == ["index", "phase", "reason", "lr", "batch", "loss"]
    assert lines[5][:5] == ["4", "Failed", "NotebookFailed", "0.01", "32"] and lines[5][5] == ""

    # Rerun only the failed index: a new sweep of that one parameter set.
    _, again = await server.call(
        "POST", f"/jobs/{job['id']}/rerun", {"failed_only": True}, expect=201
    )
    rerun = again["job"]
    assert rerun["id"] != job["id"]
    assert rerun["sweep"]["total"] == 1
    assert [i["parameters"] for i in rerun["sweep"]["indexes"]] == [FAILING]
    rerun_done = await server.wait_job(rerun["id"], finished, timeout=180)
    assert rerun_done["sweep"]["failed"] == 1  # the same set fails the same way
    assert "diverged" in rerun_done["sweep"]["indexes"][0]["message"]


@pytest.mark.asyncio
async def test_cancel_stops_the_whole_sweep(server: ServerProcess, workspace: Path):
    body = {"notebook": "slow.ipynb", "sweep": {"parameters": {"n": [1, 2, 3]}}, "parallelism": 2}
    _, created = await server.call("POST", "/jobs", body, expect=201)
    job_id = created["job"]["id"]

    def two_running(job: dict) -> bool:
        return job["sweep"]["running"] == 2 and (job["current_cell"] or 0) >= 3

    await server.wait_job(job_id, two_running, timeout=120)
    await server.call("POST", f"/jobs/{job_id}/cancel", expect=200)
    done = await server.wait_job(job_id, finished, timeout=120)
    assert done["phase"] == "Cancelled", done
    indexes = done["sweep"]["indexes"]
    assert [i["phase"] for i in indexes] == ["Cancelled"] * 3, indexes
    ran = [i for i in indexes if i["output_state"] == "ready"]
    states = [(i["output_state"], i["output_error"]) for i in indexes]
    assert len(ran) == 2 and indexes[2]["output_state"] == "none", states  # 3rd never started
    for index in ran:
        executed = json.loads((workspace / index["output_path"]).read_text())
        meta = executed["metadata"]["jupyter_k8s_sweep"]
        assert meta["outcome"] == "cancelled" and meta["parameters"] == index["parameters"]


@pytest.mark.asyncio
async def test_bad_sweeps_are_refused(server: ServerProcess):
    status, body = await server.call(
        "POST",
        "/jobs",
        {"notebook": "ml/train.ipynb", "sweep": {"mode": "zip", "parameters": {"a": [1, 2]}}},
    )
    assert status == 201  # one list zipped is fine...
    await server.call("DELETE", f"/jobs/{body['job']['id']}", expect=204)
    status, body = await server.call(
        "POST",
        "/jobs",
        {"notebook": "ml/train.ipynb", "sweep": {"mode": "zip", "parameters": {"a": [1], "b": []}}},
    )
    assert status == 400 and "'b' has no values" in body["message"]


def test_cli_sweep_and_results(dev_cluster, admin_config, namespace, tmp_path):
    ws = tmp_path / "ws"
    write_notebook(ws / "train.ipynb", SWEEP_NB)
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({"JupyterK8s": {}}))
    env = {
        **os.environ,
        "KUBECONFIG": str(user_kubeconfig(dev_cluster, admin_config, namespace, tmp_path / "kc")),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_CONFIG_PATH": "",
    }

    def jk8s(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "jupyter_k8s.cli", *args, "--namespace", namespace],
            cwd=ws,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    # Zipped: (0.5, 16) succeeds, (0.01, 32) fails; --wait exits 1 as the sweep failed.
    run = jk8s(
        "sweep", "train.ipynb", "-p", "lr", "0.5,0.01", "-p", "batch", "16,32", "--zip", "--wait"
    )
    assert run.returncode == 1, run.stdout + run.stderr
    job_id = run.stdout.strip()
    assert "1 of 2 parameter sets succeeded, 1 failed" in run.stderr
    suffix = job_id[-6:]
    assert {p.name for p in ws.glob(f"train.{suffix}-*.ipynb")} == {
        f"train.{suffix}-0.ipynb",
        f"train.{suffix}-1.ipynb",
    }
    shown = jk8s("results", job_id, "--csv")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "index,phase,reason,lr,batch,loss",
        "0,Succeeded,,0.5,16,8.0",
        "1,Failed,NotebookFailed,0.01,32,",
    ]
