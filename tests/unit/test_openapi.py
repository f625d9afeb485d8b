"""docs/openapi.yaml is valid OpenAPI 3.1 and describes exactly the routes and models served."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml

from jupyter_k8s import handlers
from jupyter_k8s.errors import ValidationProblem
from jupyter_k8s.jobs.models import MAX_RETRIES, JobInfo, JobPhase, SubmitRequest

SPEC_PATH = Path(__file__).parents[2] / "docs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
ERROR_CODES = {"400", "401", "403", "404", "409", "413", "502", "503"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        target: typing.Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def served_routes() -> dict[str, set[str]]:
    """OpenAPI path (relative to /jupyter-k8s) -> methods its handler implements."""
    routes: dict[str, set[str]] = {}
    prefix = f"/{handlers.API_PREFIX}"
    from jupyter_k8s.kernels.handlers import kernel_handlers

    for pattern, cls in [*handlers.default_handlers, *kernel_handlers]:
        assert pattern.startswith(prefix), pattern
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.removeprefix(prefix))
        # Methods jupyter-k8s implements (not OPTIONS, which APIHandler answers for CORS).
        methods = {m for m in METHODS if getattr(cls, m).__module__.startswith("jupyter_k8s")}
        routes[path] = methods
    return routes


def described_routes(spec: dict) -> dict[str, set[str]]:
    return {path: {m for m in item if m in METHODS} for path, item in spec["paths"].items()}


def test_is_valid_openapi_3_1(spec: dict):
    assert spec["openapi"].startswith("3.1")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # structural check only
        validate = None
    if validate is not None:
        validate(spec)
    # Structural checks that hold whichever validator is there: every $ref resolves.
    text = SPEC_PATH.read_text()
    for ref in set(re.findall(r"\$ref: \"?(#/[^\"}\s]+)", text)):
        _resolve(spec, {"$ref": ref})


def test_every_route_is_described_and_vice_versa(spec: dict):
    assert described_routes(spec) == served_routes()


def test_server_url_is_the_extension_prefix(spec: dict):
    assert spec["servers"][0]["url"].endswith(f"/{handlers.API_PREFIX}")


def test_job_id_pattern_is_the_routes(spec: dict):
    pattern = spec["components"]["parameters"]["JobId"]["schema"]["pattern"]
    route = re.search(r"\(\?P<job_id>([^)]*)\)", handlers._JOB).group(1)
    assert pattern == f"^{route}$"
    for path in served_routes():
        if "{job_id}" in path:
            params = spec["paths"][path]["parameters"]
            assert {"$ref": "#/components/parameters/JobId"} in params


def test_every_operation_documents_auth_and_errors(spec: dict):
    assert "token" in spec["components"]["securitySchemes"]
    assert spec["security"] == [{"token": []}]
    assert "_xsrf" in spec["info"]["description"]
    for path, item in spec["paths"].items():
        for method in set(item) & set(METHODS):
            op = item[method]
            codes = set(op["responses"])
            assert {"401", "403"} <= codes, f"{method} {path}"
            assert any(c.startswith("2") for c in codes), f"{method} {path}"
            assert "500" not in codes, f"{method} {path}: a 500 is a bug, not an answer"
            for code in codes & ERROR_CODES:
                response = _resolve(spec, op["responses"][code])
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {code}"
            if path.startswith("/jobs"):  # these reach the cluster (kernels: server memory)
                assert "404" in codes or path == "/jobs", f"{method} {path}"
                assert "503" in codes, f"{method} {path}"


def test_status_codes_of_the_job_routes(spec: dict):
    paths = spec["paths"]
    assert set(paths["/jobs"]["post"]["responses"]) >= {"201", "400", "403", "404", "409", "413"}
    assert "204" in paths["/jobs/{job_id}"]["delete"]["responses"]
    assert "201" in paths["/jobs/{job_id}/rerun"]["post"]["responses"]
    assert "201" in paths["/jobs/{job_id}/output"]["post"]["responses"]
    assert "text/plain" in paths["/jobs/{job_id}/logs"]["get"]["responses"]["200"]["content"]
    output = paths["/jobs/{job_id}/output"]["get"]["responses"]["200"]["content"]
    assert "application/x-ipynb+json" in output
    logs_params = {p["name"] for p in paths["/jobs/{job_id}/logs"]["get"]["parameters"]}
    assert logs_params == {"tail", "follow"}
    list_params = {p["name"] for p in paths["/jobs"]["get"]["parameters"]}
    assert list_params == {"status", "notebook", "limit", "offset"}


def test_error_schema(spec: dict):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "reason"}
    assert set(error["properties"]) == {"message", "reason", "field"}
    for exc in (ValueError("boom"), ValidationProblem("bad", field="parameters")):
        _status, body = handlers.map_error(exc)
        assert set(error["required"]) <= set(body) <= set(error["properties"])


def test_submit_request_schema_matches_the_model(spec: dict):
    schema = spec["components"]["schemas"]["SubmitRequest"]
    fields = SubmitRequest.model_fields
    assert set(schema["properties"]) == set(fields)
    assert set(schema["required"]) == {n for n, f in fields.items() if f.is_required()}
    assert schema["additionalProperties"] is False  # extra="forbid"
    assert SubmitRequest.model_config.get("extra") == "forbid"
    props = schema["properties"]
    assert props["retries"]["maximum"] == MAX_RETRIES
    assert props["retries"]["minimum"] == 0
    assert props["retries"]["default"] == fields["retries"].default
    assert props["ttl_seconds_after_finished"]["default"] == (
        fields["ttl_seconds_after_finished"].default
    )
    assert props["timeout_seconds"]["exclusiveMinimum"] == 0
    assert props["ship_folder"]["default"] is False
    # Bounds the model enforces are the documented ones.
    for name in ("timeout_seconds", "ttl_seconds_after_finished"):
        maximum = props[name]["maximum"]
        SubmitRequest(notebook="a.ipynb", **{name: maximum})
        with pytest.raises(Exception, match=name):
            SubmitRequest.from_json({"notebook": "a.ipynb", name: maximum + 1})


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("parameters", {"x_1": 1}, {"1x": 1}),
        ("env", {"A_B": "1"}, {"A-B": "1"}),
        ("secrets", ["my.secret-1"], ["My_Secret"]),
        ("image", "python:3.11-slim", "python 3"),
    ],
)
def test_documented_patterns_agree_with_the_model(spec: dict, field, good, bad):
    props = spec["components"]["schemas"]["SubmitRequest"]["properties"]
    prop = _resolve(spec, props[field])
    if "propertyNames" in prop:
        pattern, good_values, bad_values = prop["propertyNames"]["pattern"], good, bad
    elif "items" in prop:
        pattern, good_values, bad_values = prop["items"]["pattern"], good, bad
    else:
        pattern, good_values, bad_values = prop["pattern"], [good], [bad]
    assert all(re.search(pattern, v) for v in good_values)
    assert not all(re.search(pattern, v) for v in bad_values)
    SubmitRequest(notebook="a.ipynb", **{field: good})
    with pytest.raises(Exception, match=field):
        SubmitRequest.from_json({"notebook": "a.ipynb", field: bad})


def test_job_info_schema_matches_the_model(spec: dict):
    schemas = spec["components"]["schemas"]
    schema = schemas["JobInfo"]
    fields = JobInfo.model_fields
    assert set(schema["properties"]) == set(fields)
    required_in_model = {n for n, f in fields.items() if f.is_required()}
    assert required_in_model <= set(schema["required"])
    # Fields with a default are always present in model_dump(): documented as required.
    assert set(schema["required"]) <= set(fields)
    assert schemas["JobPhase"]["enum"] == [p.value for p in JobPhase]
    output_states = typing.get_args(fields["output_state"].annotation)
    assert schema["properties"]["output_state"]["enum"] == list(output_states)
    for name in ("created", "started", "finished"):
        assert schema["properties"][name]["format"] == "date-time"


def test_submitted_links_point_at_operations(spec: dict):
    operation_ids = {
        op["operationId"]
        for item in spec["paths"].values()
        for m, op in item.items()
        if m in METHODS
    }
    assert len(operation_ids) == sum(
        1 for item in spec["paths"].values() for m in item if m in METHODS
    )
    for link in spec["components"]["links"].values():
        assert link["operationId"] in operation_ids


def test_provenance_schema_matches_the_model(spec: dict):
    from jupyter_k8s.jobs.models import Provenance

    schema = spec["components"]["schemas"]["Provenance"]
    fields = Provenance.model_fields
    assert set(schema["properties"]) == set(fields)
    assert set(schema["required"]) == {n for n, f in fields.items() if f.is_required()}
    assert schema["additionalProperties"] is False  # extra="forbid"
    assert Provenance.model_config.get("extra") == "forbid"
    job_info = spec["components"]["schemas"]["JobInfo"]["properties"]["provenance"]
    assert {"$ref": "#/components/schemas/Provenance"} in job_info["oneOf"]
