"""Server-side notebook logic: reading, the parameters cell, parameter warnings, models."""

from __future__ import annotations

import json

import nbformat
import pytest
from builders import notebook

from jupyter_k8s.errors import ValidationProblem
from jupyter_k8s.jobs.models import JobInfo, JobPhase, SubmitRequest
from jupyter_k8s.jobs.notebook import (
    check_parameters,
    declared_parameters,
    kernel_and_language,
    parameters_cell,
    read_notebook,
)


def as_bytes(nb: dict) -> bytes:
    return nbformat.writes(nb).encode()


# -- read_notebook ------------------------------------------------------------------------------


def test_read_valid_notebook():
    nb = read_notebook(as_bytes(notebook(parameters="x = 1", kernelspec=None)), "a.ipynb")
    assert nb["cells"][0]["source"] == "x = 1"


def test_invalid_json_says_where():
    with pytest.raises(ValidationProblem) as info:
        read_notebook(b'{\n "cells": [\n oops\n]}', "a.ipynb")
    assert "invalid JSON at line 3" in str(info.value)
    assert info.value.field == "notebook" and info.value.status == 400


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[1, 2]", "not a notebook"),
        (b'{"cells": []}', "not a notebook"),
        (b'{"nbformat": 4, "cells": 5, "metadata": {}}', "not a notebook"),
        (b"\xff\xfe", "not UTF-8"),
        (
            json.dumps(
                {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"source": "x"}]}
            ).encode(),
            "not a valid notebook",
        ),
    ],
)
def test_not_a_notebook(data, words):
    with pytest.raises(ValidationProblem, match=words):
        read_notebook(data, "a.ipynb")


def test_missing_cell_ids_are_fine():
    raw = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "source": "x=1",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    assert read_notebook(json.dumps(raw).encode(), "a.ipynb")["cells"][0]["source"] == "x=1"


# -- parameters ---------------------------------------------------------------------------------


def test_parameters_cell_finds_the_first_tagged_cell():
    nb = notebook("import os", "a = 1", "b = 2", kernelspec=None)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.cells[2].metadata["tags"] = ["parameters"]
    assert parameters_cell(nb) == (1, "a = 1")
    assert parameters_cell(notebook("x = 1", kernelspec=None)) is None


def test_parameters_cell_joins_list_sources():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": ["a = 1\n", "b = 2"],
            }
        ]
    }
    assert parameters_cell(nb) == (0, "a = 1\nb = 2")


def test_declared_parameters_types():
    source = "\n".join(
        [
            "%matplotlib inline",
            "alpha = 0.5",
            "n = 10",
            "name = 'x'",
            "flags = [1, 2]",
            "opts = {'a': 1}",
            "missing = None",
            "ok = True",
            "ratio: float = 1",
            "x, y = 1, 'two'",
            "when = datetime.now()",
            "def helper():",
            "    inner = 1",
            "import os",
        ]
    )
    assert declared_parameters(notebook(parameters=source, kernelspec=None)) == {
        "alpha": "float",
        "n": "int",
        "name": "str",
        "flags": "list",
        "opts": "dict",
        "missing": "NoneType",
        "ok": "bool",
        "ratio": "float",
        "x": "int",
        "y": "str",
        "when": "expression",
    }


def test_declared_parameters_of_unparsable_or_other_language_cells():
    assert declared_parameters(notebook(parameters="a = (", kernelspec=None)) == {}
    r_nb = notebook(
        parameters="a <- 1", kernelspec={"name": "ir", "language": "R", "display_name": "R"}
    )
    assert declared_parameters(r_nb) == {}
    assert declared_parameters(notebook("a = 1", kernelspec=None)) == {}


def test_check_parameters_warns_but_never_fails():
    nb = notebook(parameters="alpha = 0.5\nn = 10\nname = 'x'\nmaybe = None", kernelspec=None)
    assert check_parameters(nb, {}) == []
    assert check_parameters(nb, {"alpha": 1, "n": 3, "name": "y", "maybe": [1]}) == []
    warnings = check_parameters(nb, {"alpha": "high", "beta": 2})
    assert warnings == [
        "parameter 'alpha' is a str but the notebook's default is a float",
        "parameter 'beta' is not assigned in the 'parameters' cell",
    ]


def test_check_parameters_without_parameters_cell():
    (warning,) = check_parameters(notebook("x = 1", kernelspec=None), {"a": 1})
    assert "no cell tagged 'parameters'" in warning


def test_kernel_and_language():
    assert kernel_and_language({"metadata": {}}) == ("python3", "python")
    assert kernel_and_language({"metadata": {"kernelspec": {"name": "ir", "language": "R"}}}) == (
        "ir",
        "R",
    )
    assert kernel_and_language(
        {"metadata": {"kernelspec": {"name": "julia-1.10"}, "language_info": {"name": "julia"}}}
    ) == ("julia-1.10", "julia")


# -- models -------------------------------------------------------------------------------------


def test_submit_request_defaults():
    req = SubmitRequest.from_json({"notebook": "/work/a.ipynb"})
    assert req.notebook == "work/a.ipynb"
    assert req.parameters == {} and req.profile is None and req.retries == 0
    assert req.ttl_seconds_after_finished == 7 * 24 * 3600
    assert req.ship_folder is False


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"notebook": "../etc/passwd.ipynb"}, "notebook"),
        ({"notebook": "a/./b.ipynb"}, "notebook"),
        ({"notebook": "a.py"}, "notebook"),
        ({"notebook": "a.ipynb", "parameters": {"not valid": 1}}, "parameters"),
        ({"notebook": "a.ipynb", "parameters": {"class": 1}}, "parameters"),
        ({"notebook": "a.ipynb", "env": {"A-B": "1"}}, "env"),
        ({"notebook": "a.ipynb", "secrets": ["Not_A_Name"]}, "secrets"),
        ({"notebook": "a.ipynb", "timeout_seconds": 0}, "timeout_seconds"),
        ({"notebook": "a.ipynb", "retries": 11}, "retries"),
        ({"notebook": "a.ipynb", "ttl_seconds_after_finished": -1}, "ttl_seconds_after_finished"),
        ({"notebook": "a.ipynb", "image": "a b"}, "image"),
        ({"notebook": "a.ipynb", "nope": 1}, "nope"),
        ({}, "notebook"),
    ],
)
def test_submit_request_validation_names_the_field(data, field):
    with pytest.raises(ValidationProblem) as info:
        SubmitRequest.from_json(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_submit_request_accepts_json_values():
    req = SubmitRequest.from_json(
        {
            "notebook": "a.ipynb",
            "parameters": {"a": [1, {"b": None}], "c": 1.5, "d": True},
            "secrets": ["db-creds", "db-creds", "s3.creds"],
            "env": {"_X1": "y"},
            "ttl_seconds_after_finished": None,
        }
    )
    assert req.secrets == ["db-creds", "s3.creds"]
    assert req.ttl_seconds_after_finished is None


def test_job_phase_and_info():
    assert JobPhase.CANCELLED.finished and not JobPhase.RUNNING.finished
    info = JobInfo(id="nb-a-x", notebook="a.ipynb", owner="u", phase=JobPhase.PENDING)
    dumped = info.model_dump(mode="json")
    assert dumped["phase"] == "Pending" and dumped["output_state"] == "none"
