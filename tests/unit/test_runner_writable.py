"""The runner refuses at once, naming the folder and the pod's ids, when the executed notebook
could not be saved where it goes (shared staging on a folder the pod's uid cannot write): the
job fails with reason OutputNotWritable before any cell runs, so no result is computed only
to be lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_k8s.jobs.runlog import parse_runner_log
from jupyter_k8s.pod import runner


def test_check_writable_makes_the_folder_and_leaves_nothing(tmp_path: Path):
    folder = tmp_path / "a" / "b"
    runner.check_writable(str(folder))
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_check_writable_names_the_folder_and_the_pods_ids(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(runner.OutputNotWritable) as caught:
        runner.check_writable(str(blocker / "out"))
    text = str(caught.value)
    assert str(blocker / "out") in text
    assert "the pod (uid " in text and "chmod g+ws" in text


def test_the_runner_fails_before_running_a_cell(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("open('ran', 'w').write('x')")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    (tmp_path / "blocker").write_text("")
    config = {
        "input": str(tmp_path / "in.ipynb"),
        "output": str(tmp_path / "blocker" / "executed.ipynb"),
        "kernel_name": "python3",
        "language": "python",
        "cwd": str(tmp_path),
        "output_mode": "shared",
        "work_dir": str(tmp_path / "work"),
        "termination_log": "",
    }
    (tmp_path / "job.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, runner.__file__, "--config", str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == runner.EXIT_FAILED, proc.stdout + proc.stderr
    events = parse_runner_log(proc.stdout).events
    assert [e["event"] for e in events] == ["start", "failed"]
    final = events[-1]
    assert final["reason"] == final["ename"] == runner.OUTPUT_NOT_WRITABLE
    assert final["cell"] is None and "blocker" in final["evalue"]
    assert not (tmp_path / "ran").exists()
