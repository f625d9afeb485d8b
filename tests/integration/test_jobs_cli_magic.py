"""`jupyter k8s ...` and `%k8s_submit` against the local cluster, as a user runs them.

The CLI runs in a subprocess in a workspace folder, the magic in a real kernel started as a
Jupyter server would start it (JPY_SESSION_NAME, cwd); both see the cluster through a
kubeconfig of the least-privileged ServiceAccount and the image through a Jupyter config file.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from builders import notebook

from jupyter_k8s.devcluster.bootstrap import service_account_token
from jupyter_k8s.devcluster.pki import kubeconfig
from jupyter_k8s.k8s.client import KubeClient

pytestmark = [pytest.mark.integration]


TWO_PARAMETERS = notebook(
    "print('a is', a)\nprint('b is', b)",
    "a * 2",
    "{'b': b, 'sum': a + 1}",
    "import sys; print('to stderr', file=sys.stderr)",
    parameters="a = 1\nb = 'x'",
)
FAILING = notebook(
    "print('before')",
    "raise ValueError('the third cell says no')",
    "print('never')",
    parameters="a = 1",
)


@pytest.fixture(scope="module")
def kubeconfig_file(dev_cluster, namespace, admin_config, tmp_path_factory) -> Path:
    """A kubeconfig of the shipped ServiceAccount, its context in the test namespace."""

    async def token() -> str:
        async with KubeClient(admin_config) as client:
            return await service_account_token(client, namespace, "jupyter-k8s")

    config = kubeconfig(
        admin_config.host,
        dev_cluster.pki.ca.cert,
        "jupyter-k8s",
        token=asyncio.run(token()),
        namespace=namespace,
    )
    path = tmp_path_factory.mktemp("kube") / "config"
    path.touch(mode=0o600)
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def env(kubeconfig_file, tmp_path_factory) -> dict[str, str]:
    """The environment of the CLI and the kernel: the kubeconfig and a Jupyter config dir."""
    config_dir = tmp_path_factory.mktemp("jupyter-config")
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"JupyterK8s": {}})  # a newcomer's configuration: nothing set
    )
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig_file),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_CONFIG_PATH": "",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    nbformat.write(TWO_PARAMETERS, ws / "nb.ipynb")
    nbformat.write(FAILING, ws / "fail.ipynb")
    return ws


def jk8s(
    ws: Path, env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_k8s.cli", *args],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def outputs_text(nb: nbformat.NotebookNode) -> list[list[str]]:
    """Per code cell, its stream and result outputs as text (what must match a local run)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                texts.append(f"{out.name}: {out.text}")
            elif out.output_type in ("execute_result", "display_data"):
                texts.append(f"{out.output_type}: {out.data.get('text/plain', '')}")
            elif out.output_type == "error":
                texts.append(f"error: {out.ename}: {out.evalue}")
        cells.append(texts)
    return cells


def injected_source(nb: nbformat.NotebookNode) -> str:
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "one injected-parameters cell"
    return cells[0].source


def test_submit_wait_list_logs_fetch_delete(workspace, env, namespace, tmp_path):
    ns = ("--namespace", namespace)
    params = ("-p", "a", "5", "-p", "b", '"y"')
    run = jk8s(workspace, env, "submit", "nb.ipynb", *params, "--wait", *ns)
    assert run.returncode == 0, run.stderr
    job = run.stdout.splitlines()[0]
    assert re.fullmatch(r"[a-z0-9-]+", job)
    assert "Traceback" not in run.stderr
    progress = run.stderr.splitlines()  # not a terminal: one line per change
    assert "Succeeded" in progress and any(line.startswith("Running") for line in progress)
    executed_path = re.search(r"executed notebook: (\S+)", run.stderr)[1]
    assert (workspace / executed_path).is_file()

    executed = nbformat.read(workspace / executed_path, as_version=4)
    source = injected_source(executed)
    assert "a = 5" in source and 'b = "y"' in source
    local = papermill.execute_notebook(
        str(workspace / "nb.ipynb"),
        str(tmp_path / "local.ipynb"),
        parameters={"a": 5, "b": "y"},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    assert injected_source(local) == source
    assert outputs_text(executed) == outputs_text(local)
    assert outputs_text(executed)[2] == ["stdout: a is 5\nb is y\n"]

    listing = jk8s(workspace, env, "jobs", *ns)
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "NOTEBOOK", "PROFILE", "AGE", "DURATION", "CELL"]
    (row,) = [r for r in rows if r.startswith(job)]
    assert row.split()[1:4] == ["Succeeded", "nb.ipynb", "cpu"]
    assert row.split()[-1] == f"{len(executed.cells)}/{len(executed.cells)}"
    as_json = json.loads(jk8s(workspace, env, "jobs", "--json", *ns).stdout)
    (mine,) = [j for j in as_json if j["id"] == job]
    assert mine["parameters"] == {"a": 5, "b": "y"} and mine["output_state"] == "ready"

    status = jk8s(workspace, env, "status", job, *ns)
    assert status.returncode == 0 and "Succeeded" in status.stdout
    assert f"{executed_path} (ready)" in status.stdout

    logs = jk8s(workspace, env, "logs", job, *ns)
    assert logs.returncode == 0, logs.stderr
    assert "a is 5" in logs.stdout and "b is y" in logs.stdout
    assert "##jupyter-k8s" not in logs.stdout  # markers and the output frame are left out

    fetched = jk8s(workspace, env, "fetch", job, "-o", "copies/again.ipynb", *ns)
    assert fetched.returncode == 0, fetched.stderr
    copy = workspace / "copies" / "again.ipynb"
    assert copy.read_bytes() == (workspace / executed_path).read_bytes()
    # From another folder the collected file is not there: it is read again from the log.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = jk8s(elsewhere, env, "fetch", job, "-o", "x.ipynb", *ns)
    assert again.returncode == 0, again.stderr
    assert outputs_text(nbformat.read(elsewhere / "x.ipynb", as_version=4)) == outputs_text(
        executed
    )
    assert not (elsewhere / executed_path).exists()  # looking never writes outputs

    deleted = jk8s(workspace, env, "delete", job, *ns)
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 30
    while True:
        gone = jk8s(workspace, env, "status", job, *ns)
        if gone.returncode == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert gone.returncode == 2 and gone.stderr.startswith("error: no job")
    assert (workspace / executed_path).is_file()  # what was fetched stays


def test_failing_notebook(workspace, env, namespace):
    ns = ("--namespace", namespace)
    run = jk8s(workspace, env, "submit", "fail.ipynb", "--wait", *ns)
    assert run.returncode == 1, run.stderr
    assert "ValueError" in run.stderr and "Traceback" not in run.stderr
    job = run.stdout.splitlines()[0]

    status = jk8s(workspace, env, "status", job, *ns)
    assert status.returncode == 0, status.stderr
    fields = dict(
        line.split(":", 1) for line in status.stdout.splitlines() if not line.startswith(" ")
    )
    assert fields["Status"].strip() == "Failed"
    assert "ValueError" in fields["Message"] and "the third cell says no" in fields["Message"]
    info = json.loads(jk8s(workspace, env, "status", job, "--json", *ns).stdout)
    assert info["phase"] == "Failed" and "ValueError" in info["message"]
    # The notebook as far as it ran came back too, with the error in it.
    partial = nbformat.read(workspace / info["output_path"], as_version=4)
    assert any("error: ValueError" in t for cell in outputs_text(partial) for t in cell)

    # The same user in a namespace the ServiceAccount may not use: 3, one line.
    forbidden = jk8s(workspace, env, "jobs", "--namespace", "kube-system")
    assert forbidden.returncode == 3
    assert forbidden.stderr.startswith("error: ") and forbidden.stderr.count("\n") == 1
    missing = jk8s(workspace, env, "submit", "nope.ipynb", *ns)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


async def run_in_kernel(env: dict[str, str], cwd: Path, *codes: str) -> list[tuple[dict, list]]:
    """Execute cells in a new python3 kernel; (reply content, [(msg_type, content)]) each."""
    from jupyter_client.manager import start_new_async_kernel

    km, kc = await start_new_async_kernel(kernel_name="python3", env=env, cwd=str(cwd))
    results = []
    try:
        for code in codes:
            outputs: list[tuple[str, dict]] = []

            def hook(msg: dict, outputs: list = outputs) -> None:
                outputs.append((msg["msg_type"], msg["content"]))

            reply = await kc.execute_interactive(code, output_hook=hook, timeout=180)
            results.append((reply["content"], outputs))
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return results


def test_magic_submits_the_kernels_notebook(workspace, env, namespace):
    # As jupyter_server 2.x starts a notebook's kernel: in its folder, with its absolute path.
    kernel_env = {**env, "JPY_SESSION_NAME": str(workspace / "nb.ipynb")}
    (load, _), (reply, outputs) = asyncio.run(
        run_in_kernel(
            kernel_env,
            workspace,
            "%load_ext jupyter_k8s",
            f"%k8s_submit --wait -p a 7 --namespace {namespace}",
        )
    )
    assert load["status"] == "ok", load
    assert reply["status"] == "ok", reply

    statuses = [
        c["data"]["text/plain"]
        for kind, c in outputs
        if kind in ("display_data", "update_display_data")
    ]
    assert statuses[0].endswith(": Pending") and statuses[-1].endswith(": Succeeded")
    assert any(": Running" in s for s in statuses)
    assert [kind for kind, _ in outputs].count("display_data") == 1  # one line, updated
    printed = "".join(c["text"] for kind, c in outputs if kind == "stream")
    assert "Succeeded" in printed
    where = Path(re.search(r"executed notebook: (\S+\.ipynb)", printed)[1])
    assert where.parent == workspace and where.is_file()
    executed = nbformat.read(where, as_version=4)
    assert "a = 7" in injected_source(executed)
    assert outputs_text(executed)[2] == ["stdout: a is 7\nb is x\n"]


def test_magic_sweep_waits_and_shows_its_results_table(workspace, env, namespace):
    kernel_env = {**env, "JPY_SESSION_NAME": str(workspace / "nb.ipynb")}
    (load, _), (reply, outputs), (again, table_out) = asyncio.run(
        run_in_kernel(
            kernel_env,
            workspace,
            "%load_ext jupyter_k8s",
            f"%k8s_sweep --wait -p a 1,2 -r b x,y --parallel 2 --namespace {namespace}",
            "%k8s_results",
        )
    )
    assert load["status"] == "ok", load
    assert reply["status"] == "ok", (reply, outputs)
    printed = "".join(c["text"] for kind, c in outputs if kind == "stream")
    said = r"sweep (\S+) Succeeded.*: 4 of 4 parameter sets succeeded, 0 failed"
    found = re.search(said, printed)
    assert found, printed
    job = found[1]
    tables = [c["data"] for kind, c in outputs if kind == "display_data" and "<table>" in str(c)]
    assert len(tables) == 1, outputs
    text = tables[0]["text/plain"]
    assert text.splitlines()[0].split() == ["INDEX", "STATUS", "a", "b"], text
    assert [line.split()[1:] for line in text.splitlines()[1:]] == [
        ["Succeeded", "1", "x"],
        ["Succeeded", "1", "y"],
        ["Succeeded", "2", "x"],
        ["Succeeded", "2", "y"],
    ], text
    assert "<td>Succeeded</td>" in tables[0]["text/html"]
    # Each parameter set's executed notebook, next to the notebook, with its own values.
    for k, (a, b) in enumerate([(1, "x"), (1, "y"), (2, "x"), (2, "y")]):
        executed = nbformat.read(workspace / f"nb.{job.split('-')[-1]}-{k}.ipynb", as_version=4)
        assert outputs_text(executed)[2] == [f"stdout: a is {a}\nb is {b}\n"], k
    # %k8s_results with no id shows the kernel's last sweep again.
    assert again["status"] == "ok", again
    assert [c["data"]["text/plain"] for kind, c in table_out if kind == "display_data"] == [text]


def test_submit_wait_collects_only_its_own_job(workspace, env, tmp_path):
    """`submit --wait` in one folder must not write the user's other finished jobs there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nbformat.write(TWO_PARAMETERS, elsewhere / "other.ipynb")
    first = jk8s(elsewhere, env, "submit", "other.ipynb", "-p", "a", "3")
    assert first.returncode == 0, first.stderr
    other_id = first.stdout.split()[0]
    # Wait for it without collecting (status only looks), so its output is still pending.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = jk8s(elsewhere, env, "status", other_id, "--json")
        if json.loads(status.stdout)["phase"] == "Succeeded":
            break
        time.sleep(0.5)
    done = jk8s(workspace, env, "submit", "nb.ipynb", "--wait")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in workspace.glob("*.ipynb"))
    assert not [n for n in written if n.startswith("other.")], written
    assert any(n.startswith("nb.") and n != "nb.ipynb" for n in written), written
