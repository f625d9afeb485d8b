"""The `jupyter k8s` job commands and %k8s_submit without a cluster: arguments, values, paths,
configuration loading, status text and exit codes."""

from __future__ import annotations

import argparse
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from jupyter_k8s import cli
from jupyter_k8s.cli import exit_codes, options, render, startup
from jupyter_k8s.cli.exit_codes import exit_status
from jupyter_k8s.cli.render import StatusChanges, age_text, duration_text, status_line
from jupyter_k8s.errors import ForbiddenProblem, NotFoundProblem, ValidationProblem
from jupyter_k8s.jobs.models import JobInfo, JobPhase, SubmitRequest
from jupyter_k8s.k8s.client import Conflict, Forbidden, KubeError, NotFound, Unreachable
from jupyter_k8s.magics import magic_argv, make_parser, session_notebook
from jupyter_k8s.standalone import (
    load_jupyter_config,
    load_settings,
    relative_notebook_path,
    server_root_dir,
)

# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ('"y"', "y"),
        ('"5"', "5"),
        ("y", "y"),
        ("hello world", "hello world"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True", True),  # papermill's spellings
        ("False", False),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ('{"k": [1, {"x": null}]}', {"k": [1, {"x": None}]}),
        ("", ""),
        (" 7 ", 7),
        ("NaN", "NaN"),  # not JSON: kept as text, never a float nan
        ("Infinity", "Infinity"),
        ("1e400", "1e400"),  # would be inf
        ("[1, 2", "[1, 2"),
        ("'single'", "'single'"),
        ("2024-05-01", "2024-05-01"),
    ],
)
def test_parse_value(text, value):
    assert options.parse_value(text) == value
    assert type(options.parse_value(text)) is type(value)


def test_parse_parameters_last_wins_and_raw_stays_text():
    params = options.parse_parameters([["a", "5"], ["b", '"y"'], ["a", "6"]], [["c", "5"]])
    assert params == {"a": 6, "b": "y", "c": "5"}
    assert options.parse_parameters(None, None) == {}


def test_parse_parameters_keep_the_users_order():
    # Not sorted: papermill injects `-p msg x -p a 3.5` as msg, then a.
    params = options.parse_parameters([["msg", "x"], ["a", "3.5"], ["msg", "y"]])
    assert list(params.items()) == [("msg", "y"), ("a", 3.5)]  # last value, first place
    raw = options.parse_parameters([["z", "1"], ["b", options.RawValue("007")], ["a", "2"]])
    assert list(raw.items()) == [("z", 1), ("b", "007"), ("a", 2)]
    assert type(raw["b"]) is str  # the marker class stays out of the request


def test_parse_env():
    assert options.parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert options.parse_env(None) == {}
    for bad in ("NOVALUE", "=1"):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
            options.parse_env([bad])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)],
)
def test_parse_duration(text, seconds):
    assert options.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0", "0m", "1.5h", "-5", "m"])
def test_parse_duration_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        options.parse_duration(text)


# -- arguments ------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


def test_submit_arguments_make_a_valid_request():
    args = parse(
        "submit",
        "reports/nb.ipynb",
        "-p",
        "a",
        "5",
        "-p",
        "b",
        '"y"',
        "--parameters",
        "c",
        "[1, 2]",
        "-r",
        "d",
        "007",
        "--profile",
        "gpu",
        "--image",
        "img:1",
        "--env",
        "A=1",
        "--env",
        "B=2",
        "--secret",
        "s3",
        "--secret",
        "db",
        "--timeout",
        "30m",
        "--retries",
        "2",
        "--ship-folder",
        "--wait",
        "--namespace",
        "team",
        "--context",
        "ctx",
        "--kubeconfig",
        "/k/config",
    )
    assert args.command == "submit" and args.func is cli.jobs.run_job_command
    assert (args.namespace, args.context, args.kubeconfig) == ("team", "ctx", "/k/config")
    assert args.wait and not args.follow
    data = options.submit_request_data(args, "reports/nb.ipynb")
    req = SubmitRequest.from_json(data)
    assert req.parameters == {"a": 5, "b": "y", "c": [1, 2], "d": "007"}
    assert (req.profile, req.image, req.timeout_seconds, req.retries) == ("gpu", "img:1", 1800, 2)
    assert req.env == {"A": "1", "B": "2"} and req.secrets == ["s3", "db"]
    assert req.ship_folder


def test_submit_parameters_keep_the_command_lines_order():
    args = parse("submit", "nb.ipynb", "-p", "msg", "x", "-r", "b", "007", "-p", "a", "3.5")
    data = options.submit_request_data(args, "nb.ipynb")
    assert list(data["parameters"].items()) == [("msg", "x"), ("b", "007"), ("a", 3.5)]
    # The REST body and the model keep it too (a JSON object's order is the user's).
    req = SubmitRequest.from_json(json.loads(json.dumps(data)))
    assert list(req.parameters) == ["msg", "b", "a"]
    args = parse("rerun", "j", "-r", "z", "1", "-p", "y", "2")
    assert list(options.parse_parameters(args.parameters, args.parameters_raw).items()) == [
        ("z", "1"),
        ("y", 2),
    ]


def test_submit_defaults():
    args = parse("submit", "nb.ipynb")
    req = SubmitRequest.from_json(options.submit_request_data(args, "nb.ipynb"))
    assert req.parameters == {} and req.profile is None and req.image is None
    assert req.timeout_seconds is None and req.retries == 0 and not req.ship_folder
    assert not args.wait and not args.follow and args.namespace is None and args.verbose == 0


def test_submit_follow_short_option():
    assert parse("submit", "nb.ipynb", "-f").follow


def test_other_commands():
    args = parse("jobs", "--status", "running,failed", "--notebook", "nb.ipynb", "--json")
    assert (args.status, args.notebook, args.json) == ("running,failed", "nb.ipynb", True)
    assert args.limit == 100
    args = parse("status", "nb-x-abc", "--json")
    assert (args.job, args.json) == ("nb-x-abc", True)
    args = parse("logs", "nb-x-abc", "-f", "--tail", "20")
    assert (args.job, args.follow, args.tail) == ("nb-x-abc", True, 20)
    assert parse("logs", "j").tail is None
    assert parse("cancel", "j").job == "j"
    assert parse("delete", "j", "-n", "team").namespace == "team"
    args = parse("rerun", "j", "-p", "a", "7", "--wait")
    assert options.parse_parameters(args.parameters, args.parameters_raw) == {"a": 7} and args.wait
    args = parse("fetch", "j", "-o", "out/x.ipynb")
    assert (args.output, args.wait) == ("out/x.ipynb", False)
    assert parse("fetch", "j").output is None
    assert parse("profiles", "--json").json
    # dev-cluster is untouched
    args = parse("dev-cluster", "--state-dir", "/tmp/x", "up", "--wait")
    assert args.func is cli.dev_cluster.cmd_dev_up and args.wait


@pytest.mark.parametrize(
    "argv",
    [
        ["submit"],
        ["submit", "nb.ipynb", "-p", "a"],
        ["submit", "nb.ipynb", "--retries", "-1"],
        ["submit", "nb.ipynb", "--retries", "x"],
        ["submit", "nb.ipynb", "--timeout", "soon"],
        ["logs", "j", "--tail", "-2"],
        ["status"],
        ["jobs", "extra"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValidationProblem("bad"), 2),
        (NotFoundProblem("no job"), 2),
        (ForbiddenProblem("image not allowed"), 3),
        (Unreachable("down"), 3),
        (Forbidden(403, "Forbidden", "no"), 3),
        (KubeError(401, "Unauthorized", "who?"), 3),
        (NotFound(404, "NotFound", "gone"), 2),
        (KubeError(422, "Invalid", "bad"), 2),
        (Conflict(409, "AlreadyExists", "dup"), 1),
        (KubeError(500, "InternalError", "oops"), 1),
        (argparse.ArgumentTypeError("--env x"), 2),
        (TimeoutError("slow"), 1),
    ],
)
def test_exit_codes(exc, code):
    assert exit_codes.exit_code_for(exc) == code


# -- paths ----------------------------------------------------------------------------------------


def test_relative_notebook_path(tmp_path):
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    assert relative_notebook_path(root, "nb.ipynb", cwd=root) == "nb.ipynb"
    assert relative_notebook_path(root, "sub/nb.ipynb", cwd=root) == "sub/nb.ipynb"
    assert relative_notebook_path(root, "./sub/../nb.ipynb", cwd=root) == "nb.ipynb"
    assert relative_notebook_path(root, str(root / "sub" / "nb.ipynb")) == "sub/nb.ipynb"
    assert relative_notebook_path(root, "nb.ipynb", cwd=root / "sub") == "sub/nb.ipynb"
    for outside in ("../nb.ipynb", str(tmp_path / "nb.ipynb"), "/etc/x.ipynb", "."):
        with pytest.raises(ValidationProblem, match="outside"):
            relative_notebook_path(root, outside, cwd=root)


def test_relative_notebook_path_through_a_symlinked_root(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert relative_notebook_path(link, str(link / "nb.ipynb")) == "nb.ipynb"
    assert relative_notebook_path(real, str(link / "nb.ipynb")) == "nb.ipynb"


# -- configuration ------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_config_files_are_read_as_a_server_would(tmp_path):
    high, low = tmp_path / "user", tmp_path / "env"
    # The extension's own file loses to the server's, a higher directory wins over a lower.
    write(low / "jupyter_server_config.json", json.dumps({"JupyterK8s": {"namespace": "low"}}))
    write(
        low / "jupyter_jupyter_k8s_config.py",
        "c.JupyterK8s.output_dir = 'runs'\nc.JupyterK8s.namespace = 'ext-file'\n",
    )
    write(
        high / "jupyter_server_config.py",
        "c.JupyterK8s.default_image = 'img:2'\nc.ServerApp.root_dir = '~/work'\n",
    )
    write(high / "jupyter_server_config.json", json.dumps({"JupyterK8s": {"namespace": "high"}}))
    write(high / "jupyter_config.json", json.dumps({"JupyterK8s": {"owner": "alice"}}))
    config = load_jupyter_config([str(high), str(low)])
    conf = load_settings(config=config)
    assert conf.namespace == "high"
    assert conf.default_image == "img:2"
    assert conf.output_dir == "runs"
    assert conf.owner == "alice"
    assert server_root_dir(conf) == Path("~/work").expanduser().resolve()


def test_overrides_and_defaults(tmp_path):
    conf = load_settings("~/kc", "ctx", "team", config=load_jupyter_config([str(tmp_path)]))
    assert conf.kubeconfig == os.path.expanduser("~/kc")
    assert (conf.context, conf.namespace) == ("ctx", "team")
    assert conf.staging == "api" and server_root_dir(conf) is None
    plain = load_settings(config=load_jupyter_config([str(tmp_path)]))
    assert plain.kubeconfig is None and plain.namespace is None and plain.owner


def test_broken_config_file_is_skipped_with_a_warning(tmp_path):
    write(tmp_path / "jupyter_server_config.py", "c.JupyterK8s.namespace = 'ok'\n1/0\n")
    write(tmp_path / "jupyter_server_config.json", "{not json")
    warnings: list[str] = []
    config = load_jupyter_config([str(tmp_path)], warn=warnings.append)
    assert len(warnings) == 2
    assert "ZeroDivisionError" in warnings[0] and "jupyter_server_config.py" in warnings[0]
    assert "jupyter_server_config.json" in warnings[1]
    assert load_settings(config=config).namespace is None


def test_config_of_the_user_through_jupyter_config_dir(tmp_path, monkeypatch):
    data = {"JupyterK8s": {"namespace": "mine"}}
    write(tmp_path / "jupyter_server_config.json", json.dumps(data))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    assert load_settings().namespace == "mine"
    assert load_settings(namespace="flag").namespace == "flag"


# -- status text ----------------------------------------------------------------------------------


def info(phase: JobPhase, **fields) -> JobInfo:
    return JobInfo(id="nb-x-abc", notebook="nb.ipynb", owner="me", phase=phase, **fields)


def test_status_line():
    pending = info(
        JobPhase.PENDING,
        reason="Unschedulable",
        message="0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
    )
    assert status_line(pending) == (
        "Pending: Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    )
    assert status_line(info(JobPhase.RUNNING, current_cell=3, total_cells=7)) == (
        "Running: cell 3/7"
    )
    failed = info(JobPhase.FAILED, reason="NotebookFailed", message="ValueError: x\n(in cell 3)")
    assert status_line(failed) == "Failed: NotebookFailed: ValueError: x (in cell 3)"
    assert status_line(info(JobPhase.SUCCEEDED, output_state="pending")) == (
        "Succeeded: collecting the executed notebook"
    )
    assert status_line(info(JobPhase.SUCCEEDED, output_state="ready")) == "Succeeded"
    assert exit_status(info(JobPhase.SUCCEEDED, output_state="ready")) == 0
    assert exit_status(info(JobPhase.SUCCEEDED, output_state="error")) == 1
    assert exit_status(failed) == 1
    assert exit_status(info(JobPhase.CANCELLED)) == 1


def test_status_changes_hide_the_pending_blip_after_running():
    changes = StatusChanges()
    assert changes(info(JobPhase.PENDING)) == "Pending"
    assert changes(info(JobPhase.PENDING)) is None
    assert changes(info(JobPhase.RUNNING, current_cell=1, total_cells=2)) == "Running: cell 1/2"
    assert changes(info(JobPhase.PENDING)) is None  # pod ended, Job not Complete yet
    retry = info(JobPhase.PENDING, reason="Evicted", message="node pressure; retrying")
    assert changes(retry) == "Pending: Evicted: node pressure; retrying"
    assert changes(info(JobPhase.SUCCEEDED)) == "Succeeded"


def test_progress_lines_and_in_place_updates():
    plain = io.StringIO()
    progress = render.Progress(plain, tty=False)
    for i in (info(JobPhase.PENDING), info(JobPhase.PENDING), info(JobPhase.SUCCEEDED)):
        progress(i)
    progress.done()
    assert plain.getvalue() == "Pending\nSucceeded\n"

    term = io.StringIO()
    progress = render.Progress(term, tty=True)
    progress(info(JobPhase.PENDING))
    progress(info(JobPhase.RUNNING, current_cell=2, total_cells=4))
    progress.done()
    assert term.getvalue() == "\r\x1b[KPending\r\x1b[KRunning: cell 2/4\n"


def test_durations_and_ages():
    assert duration_text(None) == "-"
    assert [duration_text(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert age_text(now - timedelta(seconds=30), now) == "30s"
    assert age_text(now - timedelta(hours=3, minutes=5), now) == "3h"
    assert age_text(None, now) == "-"


# -- commands without a cluster -------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A workspace as the current directory and a Jupyter config dir of its own."""
    config = tmp_path / "config"
    write(
        config / "jupyter_server_config.json",
        json.dumps({"JupyterK8s": {"default_image": "img:1"}}),
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "")
    monkeypatch.chdir(ws)
    monkeypatch.setattr(startup, "setup_logging", lambda verbose: None)
    return ws


def test_profiles_need_no_cluster(cli_env, capsys):
    assert cli.main(["profiles", "--json"]) == 0
    profiles = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in profiles if p["default"]] and all("name" in p for p in profiles)
    assert cli.main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NAME") and "(default)" in out and "img:1" in out


def test_errors_are_one_line_with_an_exit_code(cli_env, tmp_path, capsys, monkeypatch):
    # Outside the workspace: refused before any cluster is asked.
    assert cli.main(["submit", "../elsewhere.ipynb"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "outside" in err and "Traceback" not in err
    assert cli.main(["submit", "nb.ipynb", "-p", "not-a-name", "1"]) == 2
    assert "not a valid parameter name" in capsys.readouterr().err
    assert cli.main(["submit", "nb.ipynb", "--env", "NOVALUE"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    # A cluster that is not there: 3, one line.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    assert cli.main(["jobs", "--kubeconfig", str(kubeconfig)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Kubernetes API") and err.count("\n") == 1
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert cli.main(["status", "j"]) == 3
    assert "error: cannot load kubeconfig" in capsys.readouterr().err


def test_invalid_profiles_configuration(cli_env, tmp_path, capsys):
    write(
        tmp_path / "config" / "jupyter_server_config.json",
        json.dumps({"JupyterK8s": {"profiles": [{"name": "Bad Name"}]}}),
    )
    assert cli.main(["profiles"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid c.JupyterK8s.profiles") and "Bad Name" in err


# -- the magic ----------------------------------------------------------------------------------


def test_magic_arguments():
    args = make_parser().parse_args(
        ["-p", "a", "7", "--wait", "--namespace", "team", "--profile", "gpu"]
    )
    assert args.notebook is None and args.wait and args.namespace == "team"
    assert options.submit_request_data(args, "nb.ipynb")["parameters"] == {"a": 7}
    args = make_parser().parse_args(["-p", "msg", "x", "-p", "a", "3.5", "-r", "c", "1"])
    params = options.submit_request_data(args, "nb.ipynb")["parameters"]
    assert list(params.items()) == [("msg", "x"), ("a", 3.5), ("c", "1")]
    assert make_parser().parse_args(["other.ipynb"]).notebook == "other.ipynb"
    with pytest.raises(UsageError, match="%k8s_submit"):
        make_parser().parse_args(["--retries", "x"])
    with pytest.raises(UsageError):
        make_parser().parse_args(["--follow"])  # not a magic option


def test_magic_lines_take_comments_as_a_shell_does():
    assert magic_argv("-p alpha 0.5 --wait     # this notebook (save it first)") == [
        "-p",
        "alpha",
        "0.5",
        "--wait",
    ]
    assert magic_argv("-p tag '#1' -p c x#y") == ["-p", "tag", "#1", "-p", "c", "x#y"]


def test_session_notebook(tmp_path):
    root = tmp_path / "root"
    nb = root / "a" / "b" / "nb.ipynb"
    nb.parent.mkdir(parents=True)
    nb.write_text("{}")
    # jupyter_server 2.x with a session name (JupyterLab): an absolute path.
    assert session_notebook({"JPY_SESSION_NAME": str(nb)}, cwd=tmp_path) == nb
    # Without one: the API path relative to the root; the kernel runs in the notebook's folder.
    assert session_notebook({"JPY_SESSION_NAME": "a/b/nb.ipynb"}, cwd=nb.parent) == nb
    assert session_notebook({"JPY_SESSION_NAME": "a/b/nb.ipynb"}, cwd=root) == nb
    with pytest.raises(UsageError, match="not set"):
        session_notebook({}, cwd=root)
    with pytest.raises(UsageError, match="renamed or moved"):
        session_notebook({"JPY_SESSION_NAME": str(root / "gone.ipynb")}, cwd=root)
    with pytest.raises(UsageError, match="not a notebook"):
        session_notebook({"JPY_SESSION_NAME": "console-1-abcd"}, cwd=root)


def test_the_configured_ttl_applies_unless_the_request_gives_one():
    from jupyter_k8s.jobs.models import SubmitRequest
    from jupyter_k8s.jobs.service import ttl_for

    assert ttl_for(SubmitRequest(notebook="a.ipynb"), 60) == 60
    assert ttl_for(SubmitRequest(notebook="a.ipynb", ttl_seconds_after_finished=5), 60) == 5
    assert ttl_for(SubmitRequest(notebook="a.ipynb", ttl_seconds_after_finished=None), 60) is None
    body = SubmitRequest.model_validate({"notebook": "a.ipynb"})
    assert ttl_for(body, None) is None
