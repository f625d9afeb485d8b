"""The live view of a running job, through the REST API of a real server on the local cluster,
in both stagings: "cell k of N" in the job's status, in order, and GET /jobs/{id}/live with the
finished cells' outputs and none of the later ones; the latency from a cell's end in the pod to
its output in the live view (the node agent runs pods as local processes: one clock).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import notebook, write_notebook
from jobs_support import ServerProcess, shared_claim, user_kubeconfig

from jupyter_k8s.k8s.client import ClusterConfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CELLS = 5


def live_notebook(seconds: list[float]) -> dict[str, Any]:
    """Cell k sleeps seconds[k-1], then prints its number and the time it ended (the pod's
    clock is ours)."""
    return notebook(
        *(
            f"# step {k}\nimport time\ntime.sleep({s})\nprint('step {k}', repr(time.time()), "
            "flush=True)"
            for k, s in enumerate(seconds, start=1)
        )
    )


LIVE_NB = live_notebook([2] * CELLS)
RESTART_AT = 3
# The restart test's cells after the restart last long enough for a server to stop and start
# on a loaded machine (CI measured more than the 2 s of a short cell), so every cell is seen.
RESTART_NB = live_notebook([2] * RESTART_AT + [8] * (CELLS - RESTART_AT))
PROFILES = [
    {"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "default": True},
    {"name": "huge", "cpu_request": "1000", "memory_request": "128Mi"},  # never scheduled
]


def finished(job: dict) -> bool:
    return job["phase"] in ("Succeeded", "Failed", "Cancelled") and job["output_state"] != (
        "pending"
    )


def states(nb: dict[str, Any]) -> list[str]:
    return [c["metadata"]["jupyter_k8s_live"]["state"] for c in nb["cells"]]


def step_output(cell: dict[str, Any]) -> tuple[int, float] | None:
    """(step, the time it ended) from a cell's printed line."""
    # nbformat may keep a multi-line string as a list of lines (papermill's files do).
    texts = [o.get("text", "") for o in cell.get("outputs", [])]
    text = "".join("".join(t) if isinstance(t, list) else t for t in texts)
    if not text.startswith("step "):
        return None
    _, k, at = text.split()
    return int(k), float(at)


async def watch_live_run(server: ServerProcess, job_id: str, restart_at: int | None = None):
    """Poll the job and its live view until it finished; check them at every answer.

    Returns (every k seen, live notebooks seen mid-run, latencies in seconds, the job).
    `restart_at`: stop and start the server once the job is at that cell; the live notebooks
    counted are then those seen after the restart.
    """
    seen: list[int] = []
    partial = 0
    shown: dict[int, float] = {}  # step -> when the live view first showed its output
    ended: dict[int, float] = {}  # step -> when the cell ended in the pod
    restarted = False
    partial_after_restart = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _, job = await server.call("GET", f"/jobs/{job_id}", expect=200)
        k = job["current_cell"]
        if job["phase"] == "Running" and k is not None:
            assert job["total_cells"] == CELLS, job
            assert job["current_cell_line"] == f"# step {k}", job
            assert not seen or k >= seen[-1], f"went back from {seen[-1]} to {k}"
            seen.append(k)
            if restart_at is not None and k >= restart_at and not restarted:
                began = time.monotonic()
                server.stop()
                server.start()
                print(f"server restarted at cell {k} in {time.monotonic() - began:.1f} s")
                restarted = True
                continue
        status, nb = await server.call("GET", f"/jobs/{job_id}/live")
        now = time.time()
        if status == 404:
            # Only while the server knows of no cell (not started; just restarted, reading
            # the log again) or the job ended without one.
            assert k is None or job["phase"] != "Running", nb
            assert "has not started a cell" in nb["message"], nb
        else:
            assert status == 200, nb
            header = nb["metadata"]["jupyter_k8s_live"]
            assert header["job"] == job_id and header["total"] == CELLS, header
            cell_states = states(nb)
            assert len(cell_states) == CELLS
            done = cell_states.count("done")
            # Done cells first, then at most one running, the rest pending: in order.
            assert cell_states == ["done"] * done + cell_states[done:], cell_states
            assert set(cell_states[done + 1 :]) <= {"pending"}, cell_states
            for i, cell in enumerate(nb["cells"]):
                out = step_output(cell)
                if cell_states[i] == "done":
                    assert out is not None and out[0] == i + 1, cell
                    ended[i + 1] = out[1]
                    shown.setdefault(i + 1, now)
                else:
                    assert cell["outputs"] == [], cell  # a later cell: nothing of it yet
            if 0 < done < CELLS and not header["finished"]:
                partial += 1
                partial_after_restart += restarted
        if finished(job):
            assert job["phase"] == "Succeeded", job
            assert (job["current_cell"], job["total_cells"]) == (CELLS, CELLS)
            latencies = [shown[k] - ended[k] for k in sorted(shown) if k in ended]
            return seen, partial if restart_at is None else partial_after_restart, latencies, job
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not finish; seen {seen}")


def check_order(seen: list[int]) -> None:
    assert seen == sorted(seen), seen
    assert sorted(set(seen)) == list(range(1, CELLS + 1)), seen


def latency_figures(staging: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    line = (
        f"live view latency ({staging} staging, cell ended in the pod -> GET /live shows it, "
        f"{len(ordered)} cells): p50 {p50 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )
    print(line)
    return line


async def check_final(server: ServerProcess, job_id: str) -> None:
    _, nb = await server.call("GET", f"/jobs/{job_id}/live", expect=200)
    assert nb["metadata"]["jupyter_k8s_live"]["source"] == "output"
    assert nb["metadata"]["jupyter_k8s_live"]["finished"] is True
    assert states(nb) == ["done"] * CELLS
    assert [step_output(c)[0] for c in nb["cells"]] == list(range(1, CELLS + 1))  # type: ignore[index]


# -- API staging ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live") / "work"
    write_notebook(root / "live.ipynb", LIVE_NB)
    write_notebook(root / "live-restart.ipynb", RESTART_NB)
    return root


@pytest.fixture(scope="module")
def server(dev_cluster, admin_config, namespace, workspace) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, workspace.parent / "user.kubeconfig"
    )
    srv = ServerProcess(workspace, kubeconfig, namespace, config={"profiles": PROFILES})
    srv.start()
    yield srv
    srv.stop()


async def test_live_view_api_staging(server: ServerProcess):
    _, created = await server.call("POST", "/jobs", {"notebook": "live.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    seen, partial, latencies, _job = await watch_live_run(server, job_id)
    check_order(seen)
    assert partial >= 3, partial  # the live view was seen mid-run, cell by cell
    assert len(latencies) >= CELLS - 1
    latency_figures("api", latencies)
    await check_final(server, job_id)


async def test_restarted_server_rebuilds_the_live_view_from_the_log(server: ServerProcess):
    _, created = await server.call("POST", "/jobs", {"notebook": "live-restart.ipynb"}, expect=201)
    job_id = created["job"]["id"]
    seen, partial, _lat, _job = await watch_live_run(server, job_id, restart_at=RESTART_AT)
    check_order(seen)
    assert partial >= 1  # after the restart: the follower read the log again from its start
    await check_final(server, job_id)


async def test_no_live_view_before_a_cell_started(server: ServerProcess):
    _, created = await server.call(
        "POST", "/jobs", {"notebook": "live.ipynb", "profile": "huge"}, expect=201
    )
    job_id = created["job"]["id"]
    try:
        status, body = await server.call("GET", f"/jobs/{job_id}/live")
        assert status == 404, body
        assert body["message"].startswith(f"job {job_id} has not started a cell yet (Pending")
        assert (await server.call("GET", "/jobs/nosuchjob-x1y2z3/live"))[0] == 404
    finally:
        await server.call("DELETE", f"/jobs/{job_id}", expect=204)


# -- shared staging -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live-shared") / "home"
    write_notebook(root / "project" / "live.ipynb", LIVE_NB)
    return root


@pytest.fixture(scope="module")
def claim(admin_config: ClusterConfig, namespace: str, shared_root: Path) -> Iterator[str]:
    pv_name = f"{namespace}-live-home"
    with shared_claim(admin_config, namespace, shared_root, "live-home", pv_name) as name:
        yield name


@pytest.fixture(scope="module")
def shared_server(
    dev_cluster, admin_config, namespace, shared_root, claim
) -> Iterator[ServerProcess]:
    kubeconfig = user_kubeconfig(
        dev_cluster, admin_config, namespace, shared_root.parent / "user.kubeconfig"
    )
    srv = ServerProcess(
        shared_root,
        kubeconfig,
        namespace,
        owner="bob",  # beside the API staging server's jobs, in the same namespace
        config={
            "staging": "shared",
            "shared_volume": {"persistentVolumeClaim": {"claimName": claim}},
            "profiles": PROFILES,
        },
    )
    srv.start()
    yield srv
    srv.stop()


async def test_live_view_shared_staging(shared_server: ServerProcess, shared_root: Path):
    _, created = await shared_server.call(
        "POST", "/jobs", {"notebook": "project/live.ipynb"}, expect=201
    )
    job_id = created["job"]["id"]
    seen, partial, latencies, job = await watch_live_run(shared_server, job_id)
    check_order(seen)
    assert partial >= 3, partial
    latency_figures("shared", latencies)
    await check_final(shared_server, job_id)
    executed = json.loads((shared_root / job["output_path"]).read_text())
    assert len(executed["cells"]) == CELLS
