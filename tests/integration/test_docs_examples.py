"""Every runnable example of README.md, docs/jobs.md and docs/kernels.md, run as written.

Against the local cluster, as a newcomer has it after `jupyter k8s dev-cluster up` and
`eval "$(jupyter k8s dev-cluster env)"`: the cluster's own kubeconfig and namespace, a home
folder with no Jupyter configuration, no option set. The examples are read from the docs at
test time (tests/docs_examples.py), so when an example changes the test follows it; a block
that cannot run says why in the docs (`<!-- docs-test: skip (...) -->`).

The folder the examples run in holds the notebooks they name (analysis.ipynb, other.ipynb,
train.ipynb), each with a `parameters` cell for the parameters the examples pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import notebook, write_notebook
from docs_examples import Example, all_examples, console_commands
from traitlets.config.loader import PyFileConfigLoader

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = all_examples(REPO)
RUNNABLE = [ex for ex in EXAMPLES if ex.skip is None]
TIMEOUT = 240  # seconds per example: a GPU job may wait for the one GPU of the test node


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, dev_cluster) -> Iterator[dict[str, str]]:
    """The environment of a newcomer's shell on the machine of the local cluster."""
    home = tmp_path_factory.mktemp("newcomer")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "JPY_", "KUBECONFIG", "XDG_", "PYTEST", "IPYTHON"))
    }
    env.update(
        HOME=str(home),
        # The control-plane binaries stay where `scripts/setup` built them.
        XDG_CACHE_HOME=os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
        # A `dev-cluster up` in an example makes a cluster of its own, here.
        XDG_STATE_HOME=str(home / ".local" / "state"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # What `eval "$(jupyter k8s dev-cluster env)"` exports for the running cluster.
        KUBECONFIG=str(dev_cluster.user_kubeconfig),
    )
    yield env
    # A failed dev-cluster example must not leave its cluster running.
    subprocess.run(
        [sys.executable, "-m", "jupyter_k8s.cli", "dev-cluster", "down"],
        env=env,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs-examples")
    write_notebook(
        root / "analysis.ipynb",
        notebook(
            "print('alpha', alpha, 'region', region)",
            "alpha * 2",
            parameters="alpha = 0.1\nregion = 'us'",
        ),
    )
    write_notebook(root / "other.ipynb", notebook("print('n', n)", parameters="n = 1"))
    write_notebook(
        root / "train.ipynb",
        notebook("import os\nprint('trained on', os.uname().nodename)", parameters="epochs = 1"),
    )
    return root


def _notebooks(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.ipynb")}


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _shell(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return _run(["bash", "-e", "-o", "pipefail", "-c", code], env, cwd)


# A real kernel for a notebook in `folder`, as JupyterLab starts it: JPY_SESSION_NAME names
# the notebook (analysis.ipynb), the kernel runs in its folder.
_IPYTHON_DRIVER = textwrap.dedent(
    """
    import sys, nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(sys.stdin.read()))
    NotebookClient(nb, kernel_name="python3", timeout=int(sys.argv[1]),
                   resources={"metadata": {"path": "."}}).execute()
    for out in nb.cells[0].outputs:
        print(out.get("text") or out.get("data", {}).get("text/plain", ""))
    """
)


def _ipython(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _IPYTHON_DRIVER, str(TIMEOUT)],
        input=code,
        env={**env, "JPY_SESSION_NAME": "analysis.ipynb"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 30,
        check=False,
    )


def _check_config(code: str, tmp: Path) -> None:
    """A jupyter_server_config.py example: it loads, and every trait it sets exists and takes
    the value given."""
    from jupyter_k8s.app import JupyterK8s

    path = tmp / "jupyter_server_config.py"
    path.write_text(code)
    config = PyFileConfigLoader(path.name, str(tmp)).load_config()
    assert config, "the example sets nothing"
    for section, values in config.items():
        assert section == "JupyterK8s", f"{section}: only JupyterK8s examples are checked here"
        known = set(JupyterK8s.class_trait_names(config=True))
        unknown = set(values) - known
        assert not unknown, f"no such option: c.JupyterK8s.{', '.join(sorted(unknown))}"
    app = JupyterK8s(config=config)
    for name, value in config["JupyterK8s"].items():
        assert getattr(app, name) == value


@pytest.mark.parametrize("example", RUNNABLE, ids=[ex.id for ex in RUNNABLE])
def test_example_runs_as_written(example: Example, home: dict[str, str], folder: Path, tmp_path):
    before = _notebooks(folder)
    started = time.monotonic()
    if example.kind == "config":
        _check_config(example.code, tmp_path)
        return
    if example.kind == "shell":
        results = [_shell(example.code, home, folder)]
    elif example.kind == "console":
        results = []
        for command in console_commands(example.code):
            results.append(_shell(command, home, folder))
            if results[-1].returncode != 0:
                break
    elif example.kind == "ipython":
        results = [_ipython(example.code, home, folder)]
    else:
        results = [_run([sys.executable, "-c", example.code], home, folder)]
    for result in results:
        assert result.returncode == 0, (
            f"{example.id} failed ({result.args!r}, exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    # An example that waits for a job, or runs papermill, leaves an executed notebook.
    if ("submit" in example.code and "--wait" in example.code) or "papermill " in example.code:
        new = _notebooks(folder) - before
        assert new, f"{example.id}: no executed notebook came back"
        for name in new:
            nb = json.loads((folder / name).read_text())
            outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
            assert outputs, f"{name} has no outputs"
    print(f"{example.id}: {time.monotonic() - started:.1f} s")


def test_the_docs_hold_the_examples_users_start_with():
    """The extraction finds what a newcomer reads first; a skip always says why."""
    ids = {ex.id: ex for ex in EXAMPLES}
    readme = [ex for ex in RUNNABLE if ex.file == "README.md"]
    assert any("jupyter k8s submit" in ex.code for ex in readme)
    assert any("%k8s_submit" in ex.code and ex.kind == "ipython" for ex in readme)
    assert any("dev-cluster up" in ex.code for ex in readme)
    assert any("papermill -k" in ex.code for ex in RUNNABLE)
    assert all(ex.skip and ex.skip.strip() for ex in EXAMPLES if ex.skip is not None)
    assert len(ids) == len(EXAMPLES)
