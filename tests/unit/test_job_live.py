"""The live view: the runner's capped markers, their assembly into a notebook (jobs/live.py),
the CLI's cell lines. The runner runs for real with the local python3 kernel."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_k8s.cli.render import CellLines
from jupyter_k8s.jobs import live
from jupyter_k8s.jobs.live import LiveRun, Progress, cap_outputs, from_notebook, progress_event
from jupyter_k8s.jobs.runlog import MARKER, parse_runner_log, user_lines
from jupyter_k8s.jobs.status import cell_progress
from jupyter_k8s.pod import runner

RUNNER = Path(runner.__file__)
HEADER = {"job": "j", "phase": "Running", "cell": 2, "total": 3, "line": "x", "finished": False}


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def image(size: int) -> dict:
    data = base64.b64encode(b"\x89PNG" + b"x" * size).decode()
    return {"output_type": "display_data", "data": {"image/png": data}, "metadata": {}}


# -- capping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [runner, live])
def test_first_line_is_the_first_non_blank_line_cleaned_and_capped(module):
    assert module.first_line("\n  \nfor epoch in range(10):\n    train()") == (
        "for epoch in range(10):"
    )
    assert module.first_line(["# Parameters\n", "a = 1\n"]) == "# Parameters"
    assert module.first_line("") == ""
    assert module.first_line("print('\x1b[31mred\x07')\tx") == "print('[31mred') x"
    long = module.first_line("y = " + "1" * 500)
    assert len(long) == module.LINE_MAX and long.endswith("\u2026")


def test_runner_and_server_caps_agree():
    for name in ("LINE_MAX", "SOURCE_MAX", "SOURCES_MAX", "CELL_OUTPUT_MAX", "LIVE_OUTPUT_MAX"):
        assert getattr(runner, name) == getattr(live, name), name


@pytest.mark.parametrize("cap", [runner.live_outputs, cap_outputs])
def test_an_output_over_the_cell_cap_is_replaced_by_a_note(cap):
    small, big = stream("epoch 1\n"), image(200_000)
    kept, used = cap([small, big, stream("after\n")], 10**9)
    assert kept[0] == small and kept[2] == stream("after\n")
    note = kept[1]
    assert note["output_type"] == "stream" and note["name"] == "stderr"
    assert "image/png output" in note["text"] and "left out" in note["text"]
    assert f"over the {live.CELL_OUTPUT_MAX} bytes of a cell's live outputs" in note["text"]
    assert used == len(json.dumps(kept[0])) + len(json.dumps(note)) + len(json.dumps(kept[2]))
    assert used < 2000


@pytest.mark.parametrize("cap", [runner.live_outputs, cap_outputs])
def test_the_run_budget_leaves_out_what_is_over_it(cap):
    kept, used = cap([stream("a" * 5000)], 1000)
    assert "outputs are over" in kept[0]["text"] and used < 1000
    kept, used = cap([stream("a" * 10)], 0)
    assert "left out" in kept[0]["text"]


def test_the_server_replaces_outputs_of_an_unknown_shape():
    bad = [
        {"output_type": "stream", "name": "stdin", "text": "x"},
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": [1]},
        {"output_type": "display_data", "data": "not a dict"},
        {"output_type": "execute_result", "data": {}, "metadata": {}, "execution_count": "1"},
        "a string",
        {"output_type": "script"},
    ]
    kept, _ = cap_outputs(bad, 10**6)
    assert len(kept) == len(bad)
    assert all("not an nbformat 4 output" in k["text"] for k in kept)
    good = {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t"]}
    assert cap_outputs([good], 10**6)[0] == [good]
    assert cap_outputs("not a list", 10**6) == ([], 0)


# -- progress -----------------------------------------------------------------------------------


def cell(index: int, number: int, of: int, line: str = "x = 1") -> dict:
    return {
        "event": "cell",
        "index": index,
        "total": of + 1,
        "code_cell": number,
        "code_cells": of,
        "first_line": line,
    }


def test_progress_counts_code_cells_and_never_goes_back():
    progress = Progress()
    for event in (cell(1, 1, 3, "# Parameters"), cell(3, 2, 3), cell(4, 3, 3, "print(\x1b)")):
        progress_event(progress, event)
    assert (progress.cell, progress.total, progress.index, progress.line) == (3, 3, 4, "print()")
    progress_event(progress, cell(1, 1, 3))  # a log read again from its start
    assert progress.cell == 3
    progress_event(progress, {"event": "failed", "cell": 4})
    assert cell_progress(progress.as_dict()) == (3, 3, "print()")
    done = Progress(cell=2, total=3, final={"event": "succeeded"})
    assert cell_progress(done.as_dict())[:2] == (3, 3)


def test_progress_ignores_nonsense():
    progress = Progress()
    for event in (
        {"event": "cell", "code_cell": "3", "code_cells": 5},
        {"event": "cell", "code_cell": True, "index": -1},
        {"event": "cell", "code_cell": 10**9},
    ):
        progress_event(progress, event)
    assert progress.cell is None
    progress_event(progress, {"event": "cell", "code_cell": 2, "code_cells": 5, "first_line": 7})
    assert (progress.cell, progress.line) == (2, None)


# -- assembly -----------------------------------------------------------------------------------


def markers(*sources: str, injected_at: int | None = None) -> list[dict]:
    events: list[dict] = [
        {
            "event": "notebook",
            "cells": len(sources),
            "nbformat_minor": 5,
            "kernelspec": {"name": "python3"},
        }
    ]
    for i, source in enumerate(sources):
        tags = ["injected-parameters"] if i == injected_at else []
        kind = "markdown" if source == "# Title" else "code"
        events.append(
            {
                "event": "source",
                "index": i,
                "id": f"c{i}",
                "cell_type": kind,
                "source": source,
                "tags": tags,
            }
        )
    return events


def test_the_live_notebook_has_finished_outputs_and_marks_the_running_cell():
    run = LiveRun("pod-1")
    events = markers("# Title", "a = 1", "# Parameters\na = 5", "print(a)", "b = 2", "c = 3")
    events[3]["tags"] = ["parameters"]  # source 2
    events += [
        cell(1, 1, 4, "a = 1"),
        {"event": "cell_done", "index": 1, "status": "completed", "execution_count": 1},
        cell(2, 2, 4, "# Parameters"),
        {"event": "cell_done", "index": 2, "status": "completed", "execution_count": 2},
        cell(3, 3, 4, "print(a)"),
        {
            "event": "cell_done",
            "index": 3,
            "status": "completed",
            "execution_count": 3,
            "outputs": [stream("5\n")],
        },
        cell(4, 4, 4, "b = 2"),
    ]
    for event in events + events:  # twice: a log read again changes nothing
        run.add(event)
    nb = run.notebook(dict(HEADER, cell=4, total=4))
    nbformat.validate(nbformat.from_dict(nb))
    states = [c["metadata"].get("jupyter_k8s_live", {}).get("state") for c in nb["cells"]]
    assert states == [None, "done", "done", "done", "running", "pending"]
    assert nb["cells"][3]["outputs"] == [stream("5\n")]
    assert nb["cells"][3]["execution_count"] == 3
    assert nb["cells"][4]["outputs"] == [] and nb["cells"][5]["execution_count"] is None
    assert nb["cells"][2]["metadata"]["tags"] == ["parameters"]
    assert [c["id"] for c in nb["cells"]] == [f"c{i}" for i in range(6)]
    assert nb["metadata"]["jupyter_k8s_live"] == dict(HEADER, cell=4, total=4, source="log")
    assert nb["metadata"]["kernelspec"] == {"name": "python3", "display_name": "python3"}

    # The last cell fails; the run ends: nothing runs any more.
    run.add({"event": "cell_done", "index": 4, "status": "failed", "outputs": []})
    run.add({"event": "failed", "cell": 4})
    states = [
        c["metadata"].get("jupyter_k8s_live", {}).get("state") for c in run.notebook({})["cells"]
    ]
    assert states == [None, "done", "done", "done", "failed", "pending"]


def test_untrusted_sources_and_indexes_are_bounded():
    run = LiveRun("p")
    run.add({"event": "notebook", "cells": 3})
    run.add({"event": "source", "index": 0, "cell_type": "code", "source": "x" * 100_000})
    run.add({"event": "source", "index": 0, "cell_type": "code", "source": "overwrite"})
    run.add({"event": "source", "index": 1, "cell_type": "<script>", "source": 5, "id": 7})
    run.add({"event": "source", "index": 3, "cell_type": "code", "source": "out of range"})
    run.add({"event": "cell_done", "index": 99, "outputs": [stream("x")]})
    run.add({"event": "cell_done", "index": 0, "outputs": [stream("a" * 300_000)]})
    run.add(cell(0, 1, 1))
    nb = run.notebook({})
    nbformat.validate(nbformat.from_dict(nb))
    source = nb["cells"][0]["source"]
    assert len(source) < live.SOURCE_MAX + 100 and source.endswith("left out]")
    assert nb["cells"][1] == {"cell_type": "raw", "metadata": {}, "source": ""}
    assert "did not arrive" in nb["cells"][2]["source"]
    assert "left out" in nb["cells"][0]["outputs"][0]["text"]
    assert run.output_bytes < 1000


def test_the_run_output_budget_is_shared_by_the_cells():
    run = LiveRun("p")
    n = 40
    run.add({"event": "notebook", "cells": n})
    for i in range(n):
        run.add({"event": "source", "index": i, "cell_type": "code", "source": f"c{i}"})
        run.add({"event": "cell_done", "index": i, "outputs": [stream("x" * 100_000)]})
    assert run.output_bytes <= live.LIVE_OUTPUT_MAX
    texts = [c["outputs"][0]["text"] for c in run.notebook({})["cells"]]
    assert texts[0] == "x" * 100_000
    assert "live notebook's outputs are over" in texts[-1]
    run.forget_outputs()
    assert not run.has_notebook and run.started is False  # only a finished cell said "started"


def test_from_notebook_marks_cells_by_papermills_metadata():
    def pm(status: str) -> dict:
        return {"papermill": {"status": status}}

    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"papermill": {}, "kernelspec": {"name": "python3"}},
        "cells": [
            {"cell_type": "markdown", "id": "m", "metadata": pm("completed"), "source": "# T"},
            {
                "cell_type": "code",
                "id": "a",
                "metadata": pm("completed"),
                "source": ["x = 1\n", "print(x)"],
                "execution_count": 1,
                "outputs": [stream("1\n"), image(300_000)],
            },
            {
                "cell_type": "code",
                "id": "b",
                "metadata": pm("running"),
                "source": "import time",
                "execution_count": None,
                "outputs": [],
            },
            {
                "cell_type": "code",
                "id": "c",
                "metadata": pm("pending"),
                "source": "y",
                "execution_count": None,
                "outputs": [],
            },
        ],
    }
    live_nb = from_notebook(nb, HEADER, "file")
    assert live_nb is not None
    nbformat.validate(nbformat.from_dict(live_nb))
    states = [c["metadata"].get("jupyter_k8s_live", {}).get("state") for c in live_nb["cells"]]
    assert states == [None, "done", "running", "pending"]
    outputs = live_nb["cells"][1]["outputs"]
    assert outputs[0] == stream("1\n") and "left out" in outputs[1]["text"]
    assert live_nb["cells"][1]["source"] == "x = 1\nprint(x)"
    assert live_nb["metadata"]["jupyter_k8s_live"]["source"] == "file"
    # Ahead of the job's status (no cell known yet): the header says what the file says.
    ahead = from_notebook(nb, dict(HEADER, cell=None, total=None, line=None), "file")
    assert ahead is not None
    header = ahead["metadata"]["jupyter_k8s_live"]
    assert (header["cell"], header["total"], header["line"]) == (2, 3, "import time")
    assert live_nb["metadata"]["kernelspec"] == {"name": "python3", "display_name": "python3"}

    # Saved before the first cell: nothing started, no live view yet.
    for c in nb["cells"]:
        c["metadata"] = pm("pending")
    assert from_notebook(nb, HEADER, "file") is None
    assert from_notebook({"cells": "no"}, HEADER, "file") is None
    assert from_notebook([], HEADER, "file") is None


# -- the runner, for real -----------------------------------------------------------------------


def test_runner_log_mode_sends_what_the_live_view_assembles(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("a = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A title"),
        params,
        nbformat.v4.new_code_cell("\n\nprint('a is', a)"),
        nbformat.v4.new_code_cell(
            "import base64\nfrom IPython.display import Image, display\n"
            "display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + b'0' * 200000))"
        ),
        nbformat.v4.new_code_cell("print('big' * 100000)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    config = {
        "input": str(tmp_path / "in.ipynb"),
        "output": str(tmp_path / "out.ipynb"),
        "parameters": {"a": 7},
        "kernel_name": "python3",
        "language": "python",
        "cwd": str(tmp_path),
        "output_mode": "log",
        "max_output_bytes": 10_000_000,
        "work_dir": str(tmp_path / "work"),
        "termination_log": str(tmp_path / "termination-log"),
    }
    (tmp_path / "job.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--config", str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    marker_lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    assert max(len(line) for line in marker_lines) < live.CELL_OUTPUT_MAX + 4096
    events = parse_runner_log(proc.stdout).events
    cells = [e for e in events if e["event"] == "cell"]
    # Code cells only, the injected parameters cell (after the parameters cell) counted.
    assert [(e["index"], e["code_cell"], e["code_cells"]) for e in cells] == [
        (1, 1, 5),
        (2, 2, 5),
        (3, 3, 5),
        (4, 4, 5),
        (5, 5, 5),
    ]
    assert [e["first_line"] for e in cells][:3] == ["a = 1", "# Parameters", "print('a is', a)"]

    run = LiveRun("pod")
    for event in events:
        run.add(event)
    assembled = run.notebook(HEADER)
    nbformat.validate(nbformat.from_dict(assembled))
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    assert [c["source"] for c in assembled["cells"]] == [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in executed["cells"]
    ]
    assert "injected-parameters" in assembled["cells"][2]["metadata"]["tags"]
    assert assembled["cells"][3]["outputs"] == [stream("a is 7\n")]
    assert all(
        c["metadata"]["jupyter_k8s_live"]["state"] == "done"
        for c in assembled["cells"]
        if c["cell_type"] == "code"
    )
    for big in (assembled["cells"][4], assembled["cells"][5]):
        assert len(big["outputs"]) == 1 and "left out" in big["outputs"][0]["text"]
    # The executed notebook (the frame) still has them whole.
    assert executed["cells"][4]["outputs"][0]["output_type"] == "display_data"


def test_shared_mode_sends_progress_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    config = {
        "input": str(tmp_path / "in.ipynb"),
        "output": str(tmp_path / "out.ipynb"),
        "kernel_name": "python3",
        "cwd": str(tmp_path),
        "output_mode": "shared",
        "work_dir": str(tmp_path / "work"),
        "termination_log": "",
    }
    (tmp_path / "job.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--config", str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kinds = [e["event"] for e in parse_runner_log(proc.stdout).events]
    assert kinds == ["start", "cell", "succeeded"]


# -- the CLI's cell lines -----------------------------------------------------------------------


DONE = 'print("done")'


def test_follow_prints_a_cell_line_between_the_log_lines_once_per_cell():
    log = [
        "starting",
        f"{MARKER} {json.dumps(cell(1, 1, 2, 'for epoch in range(10):'))}",
        "epoch 0",
        f"{MARKER} {json.dumps({'event': 'cell_done', 'index': 1, 'outputs': []})}",
        f"{MARKER} {json.dumps(cell(1, 1, 2, 'for epoch in range(10):'))}",  # repeated
        f"{MARKER} {json.dumps(cell(2, 2, 2, DONE))}",
        "done",
    ]

    async def raw():
        for line in log:
            yield (line + "\n").encode()

    both = io.StringIO()
    lines = CellLines(stream=both, out=both)

    async def read() -> None:
        async for line in user_lines(raw(), lines):
            both.write(line)

    asyncio.run(read())
    assert both.getvalue().splitlines() == [
        "starting",
        "cell 1/2: for epoch in range(10):",
        "epoch 0",
        'cell 2/2: print("done")',
        "done",
    ]
