"""The in-pod runner, run for real as a subprocess with the local python3 kernel, and the
server-side reader of its log (`runlog`)."""

from __future__ import annotations

import ast
import base64
import gzip
import hashlib
import io
import json
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from jupyter_k8s.jobs import runlog, status
from jupyter_k8s.jobs.objects import JobBuild, make_input_configmap, make_runner_config
from jupyter_k8s.jobs.runlog import parse_marker, parse_runner_log, progress_of
from jupyter_k8s.pod import runner
from jupyter_k8s.profiles import load_profiles

RUNNER = Path(runner.__file__)
TIMEOUT = 120


def make_notebook(path: Path, *sources: str) -> Path:
    """A parameters cell (a = 1, b = 'x') then the given code cells."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("a = 1\nb = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    nbformat.write(nb, path)
    return path


def write_config(tmp_path: Path, notebook: Path, **overrides) -> Path:
    config = {
        "input": str(notebook),
        "output": str(tmp_path / "out" / "executed.ipynb"),
        "parameters": {"a": 5, "b": "hi"},
        "kernel_name": "python3",
        "language": "python",
        "cwd": str(tmp_path),
        "output_mode": "shared",
        "max_output_bytes": 1_000_000,
        "work_dir": str(tmp_path / "work"),
        "termination_log": str(tmp_path / "termination-log"),
    }
    config.update(overrides)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    return path


def run_runner(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def events_of(stdout: str) -> list[dict]:
    return parse_runner_log(stdout).events


def outputs(nb) -> list[tuple]:
    """What the cells produced, without timing metadata."""
    return [(c.cell_type, c.source, c.get("execution_count"), c.get("outputs")) for c in nb.cells]


# -- the runner ---------------------------------------------------------------------------------


def test_success_matches_papermill_in_process(tmp_path):
    nb = make_notebook(
        tmp_path / "in.ipynb", "print(a * 2, b)", "import os\nprint(os.getcwd())", "{'sum': a + 1}"
    )
    (tmp_path / "termination-log").write_text("")
    proc = run_runner(write_config(tmp_path, nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    expected = papermill.execute_notebook(
        str(nb),
        str(tmp_path / "expected.ipynb"),
        parameters={"a": 5, "b": "hi"},
        kernel_name="python3",
        language="python",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    assert outputs(executed) == outputs(expected)
    assert executed.cells[2].outputs[0]["text"] == "10 hi\n"
    assert executed.cells[3].outputs[0]["text"] == f"{tmp_path}\n"

    events = events_of(proc.stdout)
    assert events[0]["event"] == "start"
    cells = [e for e in events if e["event"] == "cell"]
    assert [e["index"] for e in cells] == [0, 1, 2, 3, 4]  # the injected cell included
    assert {e["total"] for e in cells} == {5}
    assert events[-1] == {"event": "succeeded"}
    assert "10 hi" in proc.stdout  # cell output is in the pod log (log_output)
    assert "##jupyter-k8s-output##" not in proc.stdout  # shared mode: no frame
    assert parse_marker((tmp_path / "termination-log").read_text()) == ("", {"event": "succeeded"})


def test_failing_third_cell_keeps_outputs_and_reports(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print('one', a)", "1 / 0", "print('never')")
    proc = run_runner(write_config(tmp_path, nb))
    assert proc.returncode == 1, proc.stdout + proc.stderr

    final = events_of(proc.stdout)[-1]
    assert final["event"] == "failed"
    assert final["ename"] == "ZeroDivisionError"
    assert final["evalue"] == "division by zero"
    assert final["cell"] == 3 and final["exec_count"] == 4  # the injected cell counts
    assert proc.stdout.rstrip().endswith("}")  # the final marker is the log's last line

    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code[1].source.startswith("# Parameters")
    assert code[2].outputs[0]["text"] == "one 5\n"
    error = code[3].outputs[0]
    assert error["output_type"] == "error" and error["ename"] == "ZeroDivisionError"
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))  # no colours
    assert "1 / 0" in traceback
    assert code[4].outputs == [] and code[4].execution_count is None


def test_sigterm_saves_what_ran_and_exits_143(tmp_path):
    nb = make_notebook(
        tmp_path / "in.ipynb",
        "print('before', a)",
        "import time\nprint('sleeping', flush=True)\ntime.sleep(30)",
        "print('never')",
    )
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--config", str(write_config(tmp_path, nb))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(TIMEOUT, proc.kill)
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:  # until the sleeping cell prints
            seen.append(line)
            if line.strip() == "sleeping":
                break
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        code = proc.wait()
    finally:
        watchdog.cancel()
    assert code == 143, "".join(seen) + rest
    assert time.monotonic() - started < 15  # did not wait for the 30 s cell
    assert events_of(rest)[-1] == {"event": "cancelled"}

    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    cells = executed.cells
    assert cells[2].outputs[0]["text"] == "before 5\n"
    assert cells[3].outputs[0]["text"] == "sleeping\n"
    assert cells[3].outputs[-1]["ename"] == "Cancelled"
    assert cells[3].metadata["papermill"]["status"] == "failed"
    assert cells[4].outputs == [] and cells[4].metadata["papermill"]["status"] == "pending"


def test_sigterm_while_starting_is_a_clean_cancel(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print('never')")
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), "--config", str(write_config(tmp_path, nb))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(TIMEOUT, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:  # the handler is in place once the start marker is out
            if '"start"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        code = proc.wait()
    finally:
        watchdog.cancel()
    assert code == 143
    assert events_of(rest)[-1] == {"event": "cancelled"}
    assert "never" not in rest


def test_log_mode_round_trip(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print(a * 2, b)", "print('é' * 3)")
    config = write_config(tmp_path, nb, output_mode="log")
    proc = run_runner(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    log = parse_runner_log(proc.stdout)
    assert log.output_error is None
    assert log.output == (tmp_path / "out" / "executed.ipynb").read_bytes()
    executed = nbformat.reads(log.output.decode(), as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "10 hi\n"
    assert log.final == {"event": "succeeded"}
    assert log.progress == {
        "cell": 4,
        "total": 4,
        "index": 3,
        "line": "print('é' * 3)",
        "final": {"event": "succeeded"},
    }
    assert "10 hi" in log.user_log and "ééé" in log.user_log
    assert "##jupyter-k8s" not in log.user_log
    assert all(len(line) < 76 or " " in line for line in log.user_log.splitlines())


def test_log_mode_failure_still_ships_the_output(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print('one')", "raise ValueError('bad input')")
    proc = run_runner(write_config(tmp_path, nb, output_mode="log"))
    assert proc.returncode == 1
    log = parse_runner_log(proc.stdout)
    assert log.final["ename"] == "ValueError" and log.final["evalue"] == "bad input"
    executed = nbformat.reads(log.output.decode(), as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))


def test_log_mode_refuses_output_past_the_limit(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print('x' * 5000)")
    proc = run_runner(write_config(tmp_path, nb, output_mode="log", max_output_bytes=1000))
    assert proc.returncode == 1
    log = parse_runner_log(proc.stdout)
    assert log.output is None and "##jupyter-k8s-output##" not in proc.stdout
    assert log.final["event"] == "failed" and log.final["ename"] == "OutputTooLarge"
    assert "over the limit of 1000 bytes" in log.final["evalue"]


def test_bad_config_fails_clearly(tmp_path):
    config = tmp_path / "job.json"
    config.write_text('{"input": "x.ipynb"}')
    proc = run_runner(config)
    assert proc.returncode == 1
    (event,) = events_of(proc.stdout)
    assert event["event"] == "failed" and event["ename"] == "ConfigError"
    assert "output" in event["evalue"]


def test_missing_kernel_fails_clearly(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "1")
    proc = run_runner(write_config(tmp_path, nb, kernel_name="no-such-kernel"))
    assert proc.returncode == 1
    final = events_of(proc.stdout)[-1]
    assert final["event"] == "failed" and final["ename"] == "NoSuchKernel"


def test_parameters_are_injected_in_the_users_order(tmp_path):
    # End to end from the server's builders: job.json as the ConfigMap carries it, then the
    # runner's injected cell. papermill injects `-p msg x -p a 3.5` as msg, then a.
    build = JobBuild(
        name="nb-in-abc123",
        namespace="team",
        owner="alice",
        notebook_path="in.ipynb",
        parameters={"msg": "x", "a": 3.5, "Z": [2, 1]},
        profile=load_profiles([{"name": "cpu"}], None).default,
        image="img:1",
        output_path="in.abc123.ipynb",
    )
    configmap = make_input_configmap(build, b"{}", None, make_runner_config(build))
    shipped = json.loads(configmap["data"]["job.json"])
    nb = make_notebook(tmp_path / "in.ipynb", "print(msg, a, Z)")
    config = write_config(tmp_path, nb, parameters=shipped["parameters"])
    proc = run_runner(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    assert executed.cells[1].source == '# Parameters\nmsg = "x"\na = 3.5\nZ = [2, 1]\n'
    assert executed.cells[2].outputs[0]["text"] == "x 3.5 [2, 1]\n"


def test_kernel_runs_over_ipc_without_the_tcp_warning(tmp_path):
    nb = make_notebook(
        tmp_path / "in.ipynb",
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\n"
        "print(app.transport, app.ip, app.connection_file)",
    )
    proc = run_runner(write_config(tmp_path, nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    both = proc.stdout + proc.stderr
    # ipykernel >= 7.4 prints this at the top of the log of a kernel on plain TCP.
    assert "without encryption" not in both and "over TCP" not in both
    assert "WARNING" not in both, both

    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    transport, ip, connection_file = executed.cells[2].outputs[0]["text"].split()
    assert transport == "ipc"
    kernel_dir = Path(ip).parent
    assert connection_file == str(kernel_dir / "kernel.json")
    assert kernel_dir.parent == tmp_path / "work"  # the pod's writable scratch dir
    assert len(ip.encode()) + len("-5") <= runner.MAX_SOCKET_PATH
    assert kernel_dir.stat().st_mode & 0o077 == 0  # private: the sockets are the kernel's
    assert not list(tmp_path.glob("kernel-ipc*"))  # nothing in the notebook's cwd


def test_kernel_dir_falls_back_when_sockets_would_be_too_long(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    kernel_dir = runner._make_kernel_dir(str(deep))
    assert not Path(kernel_dir).is_relative_to(deep) and not list(deep.iterdir())
    assert runner.ipc_prefix(kernel_dir) is not None
    assert runner.ipc_prefix("/" + "x" * 100) is None  # then the kernel stays on TCP
    Path(kernel_dir).rmdir()


def test_use_ipc_sets_the_kernel_manager(tmp_path):
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3")
    runner.use_ipc(km, str(tmp_path))
    assert (km.transport, km.ip) == ("ipc", str(tmp_path / "k"))
    assert km.connection_file == str(tmp_path / "kernel.json") and not km.cache_ports
    tcp = AsyncKernelManager(kernel_name="python3")
    runner.use_ipc(tcp, "/" + "x" * 100)
    assert tcp.transport == "tcp"


# -- an image without the packages --------------------------------------------------------------

SYSTEM_PYTHON = "/usr/bin/python3"


def _lacks(python: str, module: str) -> bool:
    if not Path(python).exists():
        return False
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
    return probe.returncode != 0


def _failed_job_status(termination_message: str):
    """What status.job_info makes of a runner pod that exited 1 with that message."""
    job = {
        "metadata": {"name": "nb-x-abc123", "annotations": {}},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    state = {"terminated": {"exitCode": 1, "reason": "Error", "message": termination_message}}
    pod = {
        "metadata": {"name": "nb-x-abc123-p", "creationTimestamp": "2024-05-01T10:00:01Z"},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "runner", "state": state}]},
    }
    return status.job_info(job, [pod], [])


@pytest.mark.skipif(
    not _lacks(SYSTEM_PYTHON, "papermill"), reason=f"needs {SYSTEM_PYTHON} without papermill"
)
def test_image_without_papermill_fails_fast_with_the_package_named(tmp_path):
    nb = make_notebook(tmp_path / "in.ipynb", "print('never')")
    (tmp_path / "termination-log").write_text("")
    started = time.monotonic()
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(RUNNER), "--config", str(write_config(tmp_path, nb))],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    message = (
        "the image has no papermill: the runner needs Python >= 3.8 with papermill and "
        "ipykernel (pip install papermill ipykernel)"
    )
    final = events_of(proc.stdout)[-1]
    assert final == {
        "event": "failed",
        "reason": "MissingPackage",
        "ename": "MissingPackage",
        "evalue": message,
        "cell": None,
    }
    last_line = proc.stdout.rstrip().splitlines()[-1]
    termination = (tmp_path / "termination-log").read_text()
    assert termination == last_line + "\n"
    assert not (tmp_path / "out" / "executed.ipynb").exists()

    info = _failed_job_status(termination)
    assert (info.reason, info.message) == ("MissingPackage", message)


def test_python_without_ipykernel_fails_fast_with_the_package_named(tmp_path):
    # This interpreter with ipykernel hidden: the python3 kernelspec (the venv's, argv
    # `python -m ipykernel_launcher`) would start this very Python and die at once.
    nb = make_notebook(tmp_path / "in.ipynb", "print('never')")
    config = write_config(tmp_path, nb)
    (tmp_path / "termination-log").write_text("")
    shim = (
        "import runpy, sys; sys.modules['ipykernel'] = None; "
        f"sys.argv = ['runner.py', '--config', {str(config)!r}]; "
        f"runpy.run_path({str(RUNNER)!r}, run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", shim], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    final = events_of(proc.stdout)[-1]
    assert final["reason"] == "MissingPackage"
    assert final["evalue"].startswith("the image has no ipykernel for the python3 kernel: ")
    assert "pip install papermill ipykernel" in final["evalue"]
    termination = (tmp_path / "termination-log").read_text()
    assert _failed_job_status(termination).reason == "MissingPackage"


def test_missing_ipykernel_judged_only_for_this_python(tmp_path, monkeypatch):
    kernels = tmp_path / "kernels"
    for name, argv in {
        "this-py": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "other-py": ["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{c}"],
        "r": ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
    }.items():
        (kernels / name).mkdir(parents=True)
        spec = {"argv": argv, "display_name": name, "language": "python"}
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setattr(runner, "_has_module", lambda name: name != "ipykernel")
    assert "no ipykernel for the this-py kernel" in runner.missing_package(
        {"kernel_name": "this-py"}
    )
    assert runner.missing_package({"kernel_name": "other-py"}) is None
    assert runner.missing_package({"kernel_name": "r"}) is None
    assert runner.missing_package({"kernel_name": "no-such"}) is None  # papermill says it
    assert runner.missing_package({}) is None
    monkeypatch.undo()
    assert runner.missing_package({"kernel_name": "python3"}) is None  # all there


def test_unpack_ships_the_folder(tmp_path):
    archive = tmp_path / "folder.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"42"
        info = tarfile.TarInfo("data/answer.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    nb = make_notebook(tmp_path / "in.ipynb", "print(open('data/answer.txt').read())")
    cwd = tmp_path / "cwd"
    proc = run_runner(write_config(tmp_path, nb, cwd=str(cwd), unpack=str(archive)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    executed = nbformat.read(tmp_path / "out" / "executed.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "42\n"


def test_unpack_refuses_paths_outside(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "dest").mkdir()
    with pytest.raises(ValueError, match="unsafe path"):
        runner.unpack(str(archive), str(tmp_path / "dest"))
    assert not (tmp_path / "escape.txt").exists()


def test_runner_imports_only_stdlib_papermill_and_nbformat():
    tree = ast.parse(RUNNER.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    # jupyter_client: papermill's own dependency (via nbclient), which runs the kernels.
    outside = modules - set(sys.stdlib_module_names) - {"papermill", "nbformat", "jupyter_client"}
    assert not outside, f"the runner may not import {outside}"


def test_runner_parses_as_python_38():
    ast.parse(RUNNER.read_text(), feature_version=(3, 8))


def test_runner_and_reader_agree_on_the_format():
    assert runner.MARKER == runlog.MARKER
    assert runner.FRAME == runlog.FRAME
    assert runner.FRAME_LINE == runlog.FRAME_LINE


# -- runlog, pure -------------------------------------------------------------------------------


def framed(data: bytes, line: int = 76) -> list[str]:
    encoded = base64.b64encode(gzip.compress(data)).decode()
    return [
        f"##jupyter-k8s-output## begin {len(data)} {hashlib.sha256(data).hexdigest()}",
        *(encoded[i : i + line] for i in range(0, len(encoded), line)),
        "##jupyter-k8s-output## end",
    ]


PAYLOAD = json.dumps({"cells": list(range(400))}).encode()


def test_runlog_separates_events_output_and_user_log():
    text = "\n".join(
        [
            "hello",
            '##jupyter-k8s## {"event": "cell", "index": 0, "total": 2}',
            "partial output##jupyter-k8s## " + '{"event": "cell", "index": 1, "total": 2}',
            "##jupyter-k8s## not json",
            *framed(PAYLOAD),
            '##jupyter-k8s## {"event": "succeeded"}',
        ]
    )
    log = parse_runner_log(text)
    assert log.output == PAYLOAD and log.output_error is None
    assert [e["event"] for e in log.events] == ["cell", "cell", "succeeded"]
    assert log.user_log == "hello\npartial output\n##jupyter-k8s## not json\n"
    # A marker of a runner of before the live view: its index counts every cell.
    assert log.progress == {
        "cell": 2,
        "total": 2,
        "index": 1,
        "line": None,
        "final": {"event": "succeeded"},
    }


def test_runlog_incomplete_frame():
    log = parse_runner_log("\n".join(framed(PAYLOAD)[:-2]))
    assert log.output is None and "incomplete" in log.output_error


def test_runlog_corrupt_frame():
    lines = framed(PAYLOAD)
    lines[0] = lines[0][:-64] + "0" * 64
    log = parse_runner_log("\n".join(lines))
    assert log.output is None and "sha256" in log.output_error


def test_runlog_size_lie_and_limit():
    lines = framed(PAYLOAD)
    lines[0] = lines[0].replace(f"begin {len(PAYLOAD)}", "begin 10")
    assert "frame said 10" in parse_runner_log("\n".join(lines)).output_error
    log = parse_runner_log("\n".join(framed(PAYLOAD)), max_output_bytes=100)
    assert log.output is None and "over the limit of 100" in log.output_error


def test_runlog_stray_short_line_inside_the_frame():
    lines = framed(PAYLOAD)
    assert len(lines) > 4
    lines.insert(2, "Killed")
    log = parse_runner_log("\n".join(lines))
    assert log.output == PAYLOAD
    assert "Killed" in log.user_log


def test_runlog_timestamps_and_crlf():
    lines = ["2024-05-01T10:00:00.123456789Z " + line + "\r" for line in framed(PAYLOAD)]
    lines.append('2024-05-01T10:00:01Z ##jupyter-k8s## {"event": "failed", "ename": "E"}')
    log = parse_runner_log("\n".join(lines), timestamps=True)
    assert log.output == PAYLOAD
    assert log.final == {"event": "failed", "ename": "E"}


def test_progress_of():
    assert progress_of([]) is None
    assert progress_of([{"event": "start"}]) == {
        "cell": None,
        "total": None,
        "index": None,
        "line": None,
        "final": None,
    }
