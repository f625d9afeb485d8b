"""The doctor's findings: cluster answers in, checklist lines out (no cluster needed)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import yaml

from jupyter_k8s import cli
from jupyter_k8s.doctor.api import api_findings
from jupyter_k8s.doctor.checks import Check, DoctorReport, exit_code, format_report
from jupyter_k8s.doctor.config import DoctorSettings, config_findings, kubeconfig_choice
from jupyter_k8s.doctor.gpus import gpu_findings
from jupyter_k8s.doctor.image import image_finding, resolve_image
from jupyter_k8s.doctor.namespace import (
    format_amount,
    pod_security_finding,
    profile_needs,
    quota_findings,
)
from jupyter_k8s.doctor.permissions import (
    RBAC_PATH,
    Permission,
    binding_subject,
    nodes_finding,
    permission_findings,
    required_permissions,
)
from jupyter_k8s.doctor.probe import (
    KERNEL_PORT,
    PROBE_COMPONENT,
    PROBE_SCRIPT,
    PROBE_SELECTOR,
    ProbeResult,
    ProbeState,
    parse_probe_log,
    probe_findings,
    probe_pod,
    probe_state,
)
from jupyter_k8s.doctor.run import run_doctor
from jupyter_k8s.k8s.client import Forbidden, KubeError, NotFound, Unreachable
from jupyter_k8s.k8s.cluster_defaults import NO_IMAGE_HINT
from jupyter_k8s.profiles import Profile, load_profiles

NS = "notebooks"
SA = f"system:serviceaccount:{NS}:jupyter-k8s"


def review(allowed: bool, reason: str = "") -> dict:
    return {"status": {"allowed": allowed, "reason": reason}}


# -- permissions ------------------------------------------------------------------------------


def test_required_permissions_are_the_shipped_roles_rules():
    perms = required_permissions()
    texts = [p.text for p in perms]
    role = next(d for d in yaml.safe_load_all(RBAC_PATH.read_text()) if d and d["kind"] == "Role")
    expected = sum(
        len(r["apiGroups"]) * len(r["resources"]) * len(r["verbs"]) for r in role["rules"]
    )
    assert len(perms) == expected
    assert "delete batch/jobs" in texts
    assert "get pods/log" in texts
    assert "watch events" in texts and "get configmaps" not in texts  # only what code uses
    assert "list secrets" not in texts  # the Role deliberately has no list of Secrets
    log = next(p for p in perms if p.text == "get pods/log")
    assert log.review(NS)["spec"]["resourceAttributes"] == {
        "verb": "get",
        "group": "",
        "resource": "pods",
        "subresource": "log",
        "namespace": NS,
    }
    assert Permission("list", "", "nodes").review(None)["spec"]["resourceAttributes"] == {
        "verb": "list",
        "group": "",
        "resource": "nodes",
    }


def test_required_permissions_follow_the_file():
    text = """
kind: Role
rules:
  - apiGroups: ["batch"]
    resources: ["jobs"]
    verbs: ["get"]
---
kind: RoleBinding
"""
    assert [p.text for p in required_permissions(text)] == ["get batch/jobs"]


def test_all_allowed_is_one_ok_line_per_resource():
    perms = required_permissions()
    checks = permission_findings(perms, {p: review(True) for p in perms}, NS, SA)
    assert all(c.status == "ok" for c in checks)
    jobs = next(c for c in checks if c.name == "batch/jobs")
    assert jobs.detail == "create, get, list, watch, patch, delete"
    assert {c.name for c in checks} >= {"pods/log", "events", "secrets"}
    assert exit_code(checks) == 0


def test_a_denied_verb_fails_with_the_rule_to_add():
    perms = required_permissions()
    answers = {p: review(p.text != "delete batch/jobs") for p in perms}
    checks = permission_findings(perms, answers, NS, SA)
    failed = [c for c in checks if c.status == "fail"]
    assert len(failed) == 1
    line = failed[0]
    assert line.name == "batch/jobs"
    assert "delete batch/jobs" in line.detail and "denied" in line.detail
    assert f"Role bound to {SA} in namespace {NS}" in line.fix
    assert '- apiGroups: ["batch"]\n  resources: ["jobs"]\n  verbs: ["delete"]' in line.fix
    assert f"kubectl apply -n {NS} -f {RBAC_PATH}" in line.fix
    assert exit_code(checks) == 1
    text = format_report(DoctorReport(checks))
    assert "✗ batch/jobs: delete batch/jobs: denied" in text
    assert "      fix: add this rule" in text
    assert '           - apiGroups: ["batch"]' in text


def test_a_subresource_rule_names_the_subresource():
    perms = required_permissions()
    answers = {p: review(p.text != "get pods/log") for p in perms}
    (line,) = [c for c in permission_findings(perms, answers, NS, None) if c.status == "fail"]
    assert 'resources: ["pods/log"]' in line.fix and "this identity" in line.fix


def test_a_review_that_could_not_be_asked_is_a_warning():
    perms = required_permissions()
    answers = {p: review(True) for p in perms}
    answers[perms[0]] = KubeError(500, "InternalError", "etcd is down")
    checks = permission_findings(perms, answers, NS, SA)
    jobs = next(c for c in checks if c.name == "batch/jobs")
    assert jobs.status == "warn" and "etcd is down" in jobs.detail
    assert exit_code(checks) == 0


def test_nodes_are_optional():
    ok = nodes_finding(review(True), SA, NS)
    assert ok.status == "ok"
    denied = nodes_finding(review(False), SA, NS)
    assert denied.status == "warn" and "GPU totals" in denied.detail
    assert "--serviceaccount=notebooks:jupyter-k8s" in denied.fix
    assert "kubectl create clusterrole jupyter-k8s-nodes --verb=get,list --resource=nodes" in (
        denied.fix
    )
    assert binding_subject("alice@example.com", NS) == "--user=alice@example.com"
    assert binding_subject(None, NS) == f"--serviceaccount={NS}:jupyter-k8s"


# -- the namespace --------------------------------------------------------------------------------


def namespace(labels: dict[str, str]) -> dict:
    return {"metadata": {"name": NS, "labels": labels}}


def test_pod_security_levels():
    restricted = pod_security_finding(
        NS,
        namespace(
            {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
            }
        ),
    )
    assert restricted.status == "ok"
    assert restricted.detail == "restricted enforced, version latest (warn=restricted)"
    baseline = pod_security_finding(
        NS, namespace({"pod-security.kubernetes.io/enforce": "baseline"})
    )
    assert baseline.status == "warn" and baseline.detail.startswith("baseline enforced")
    assert baseline.fix == (
        f"kubectl label namespace {NS} pod-security.kubernetes.io/enforce=restricted --overwrite"
    )
    none = pod_security_finding(NS, namespace({}))
    assert none.status == "warn" and none.detail.startswith("nothing enforced")


def test_pod_security_unreadable_namespace_is_a_warning():
    check = pod_security_finding(NS, Forbidden(403, "Forbidden", "namespaces is forbidden"))
    assert check.status == "warn"
    assert check.detail.startswith("unknown (cannot read the namespace")
    missing = pod_security_finding(NS, NotFound(404, "NotFound", "not found"))
    assert missing.status == "fail" and f"kubectl create namespace {NS}" in missing.fix


def quota(name: str, hard: dict, used: dict) -> dict:
    return {"metadata": {"name": name}, "status": {"hard": hard, "used": used}}


def test_quota_math():
    profile = Profile(name="cpu", cpu_request="500m", memory_request="1Gi", memory_limit="2Gi")
    (check,) = quota_findings(
        NS,
        [
            quota(
                "compute",
                {"requests.cpu": "2", "requests.memory": "4Gi", "pods": "10"},
                {"requests.cpu": "1500m", "requests.memory": "1536Mi", "pods": "3"},
            )
        ],
        profile,
    )
    assert check.status == "ok", check
    assert check.detail == (
        "compute: pods 3/10 (7 left); requests.cpu 1500m/2 (500m left); "
        "requests.memory 1.5Gi/4Gi (2.5Gi left)"
    )


def test_quota_too_little_left_is_a_warning_with_the_fix():
    profile = Profile(name="gpu", cpu_request="1", gpus=1)
    (check,) = quota_findings(
        NS,
        [
            quota(
                "gpus",
                {"requests.nvidia.com/gpu": "2", "requests.cpu": "4"},
                {"requests.nvidia.com/gpu": "2", "requests.cpu": "500m"},
            )
        ],
        profile,
    )
    assert check.status == "warn"
    assert "requests.nvidia.com/gpu: 0 left, profile 'gpu' needs 1" in check.detail
    assert "requests.cpu" not in check.detail.split("Not enough left:")[1]
    assert f"kubectl -n {NS} edit resourcequota gpus" in check.fix


def test_quota_on_limits_the_profile_does_not_set():
    profile = Profile(name="cpu", cpu_request="100m")
    (check,) = quota_findings(
        NS, [quota("limits", {"limits.cpu": "4"}, {"limits.cpu": "0"})], profile
    )
    assert check.status == "warn" and "limits.cpu" in check.detail and "LimitRange" in check.fix


def test_no_quota_and_unreadable_quota():
    (none,) = quota_findings(NS, [], None)
    assert none.status == "ok" and none.detail == f"none in {NS}"
    (forbidden,) = quota_findings(NS, Forbidden(403, "Forbidden", "no"), None)
    assert forbidden.status == "warn"


def test_amounts_and_needs():
    assert format_amount("requests.cpu", Decimal("0.25")) == "250m"
    assert format_amount("limits.memory", Decimal(3 * 1024**3)) == "3Gi"
    assert format_amount("requests.storage", Decimal(512 * 1024**2)) == "512Mi"
    assert format_amount("pods", Decimal(7)) == "7"
    needs = profile_needs(Profile(name="g", cpu_limit="2", memory_request="1Gi", gpus=2))
    assert needs["requests.cpu"] == needs["cpu"] == Decimal(2)  # a limit alone is the request
    assert needs["limits.cpu"] == Decimal(2)
    assert needs["requests.memory"] == Decimal(1024**3)
    assert "limits.memory" not in needs
    assert needs["requests.nvidia.com/gpu"] == Decimal(2)
    assert needs["pods"] == Decimal(1)


# -- the image ------------------------------------------------------------------------------------


def test_image_resolution_order():
    with_image = Profile(name="p", image="repo/profile:1")
    without = Profile(name="p")
    assert resolve_image(with_image, "conf:1", "hub:1", "cluster:1") == (
        "repo/profile:1",
        "profile 'p'",
    )
    assert resolve_image(without, "conf:1", "hub:1", "cluster:1")[1] == (
        "c.JupyterK8s.default_image"
    )
    assert resolve_image(without, None, "hub:1", "cluster:1")[1] == (
        "JupyterHub's JUPYTER_IMAGE_SPEC"
    )
    image, source = resolve_image(None, None, None, "cluster:1")
    assert image == "cluster:1" and "kube-public/jupyter-k8s-defaults" in source
    assert resolve_image(without, None, None, None) == (None, "none")
    missing = image_finding(None, "none")
    assert missing.status == "fail" and missing.fix == NO_IMAGE_HINT
    assert image_finding("x:1", "c.JupyterK8s.default_image").detail == (
        "x:1 (from c.JupyterK8s.default_image)"
    )


# -- the probe pod --------------------------------------------------------------------------------


def test_probe_pod_is_restricted_and_labelled():
    profile = load_profiles(
        [{"name": "p", "node_selector": {"pool": "a"}, "tolerations": [{"key": "k"}]}], None
    ).default
    pod = probe_pod(
        "jupyter-k8s-doctor-abc", NS, "img:1", owner_label="alice", nonce="n0", profile=profile
    )
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] > 60
    assert spec["nodeSelector"] == {"pool": "a"}
    assert spec["tolerations"] == [t.to_k8s() for t in profile.tolerations]
    (ctr,) = spec["containers"]
    assert ctr["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert ctr["command"][:3] == ["python3", "-c", PROBE_SCRIPT]
    assert ctr["command"][3:5] == ["n0", str(KERNEL_PORT)]
    assert ctr["resources"]["limits"] and ctr["resources"]["requests"]
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in ctr[
        "env"
    ]
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == PROBE_COMPONENT
    for pair in PROBE_SELECTOR.split(","):
        key, value = pair.split("=")
        assert labels[key] == value
    assert "$(" not in PROBE_SCRIPT  # the kubelet would expand it
    compile(PROBE_SCRIPT, "<probe>", "exec")


def pod(**status) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": status}


def test_probe_states():
    unschedulable = {
        "metadata": {"name": "p"},
        "spec": {},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 node(s) didn't match selector",
                }
            ],
        },
    }
    state = probe_state(unschedulable)
    assert (state.phase, state.reason) == ("pending", "Unschedulable")
    assert "didn't match" in state.message

    def waiting(reason):
        return pod(
            phase="Pending",
            containerStatuses=[
                {"name": "probe", "state": {"waiting": {"reason": reason, "message": "m"}}}
            ],
        )

    assert probe_state(waiting("ImagePullBackOff")).phase == "failed"
    assert probe_state(waiting("ErrImagePull")) == ProbeState("pending", "ErrImagePull", "m")
    running = pod(
        phase="Running",
        podIP="10.0.0.7",
        containerStatuses=[{"name": "probe", "state": {"running": {}}}],
    )
    assert probe_state(running) == ProbeState("running", None, None, "10.0.0.7")
    ended = pod(
        phase="Failed",
        containerStatuses=[
            {
                "name": "probe",
                "state": {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": 'exec: "python3": executable file not found in $PATH',
                    }
                },
            }
        ],
    )
    assert probe_state(ended).phase == "ended" and probe_state(ended).reason == "StartError"
    assert probe_state(pod(phase="Pending")).reason == "ContainerCreating"


def test_probe_log():
    line = 'JUPYTER_K8S_DOCTOR {"python": "3.12.1", "papermill": "2.7.0", "ipykernel": null}'
    assert parse_probe_log(f"noise\n{line}\n")["python"] == "3.12.1"
    assert parse_probe_log("Traceback...\nNameError") is None
    assert parse_probe_log("JUPYTER_K8S_DOCTOR {not json") is None


GOOD = {
    "python": "3.11.7",
    "papermill": "2.7.0",
    "ipykernel": "7.4.0",
    "listening": "10.0.0.7:52700",
}


def test_probe_findings_all_good():
    result = ProbeResult(image="img:1", pod="p", info=GOOD, connect="ok", address="10.0.0.7:52700")
    checks = probe_findings(result)
    assert [c.status for c in checks] == ["ok"] * 4
    assert [c.name for c in checks] == ["python3", "papermill", "ipykernel", "kernel port"]
    assert checks[0].detail == "Python 3.11.7 in img:1"
    assert "10.0.0.7:52700" in checks[3].detail


def test_probe_findings_missing_packages_and_network():
    info = {
        **GOOD,
        "python": "3.6.9",
        "papermill": None,
        "papermill_error": "ModuleNotFoundError: No module named 'papermill'",
    }
    result = ProbeResult(
        image="img:1", pod="p", info=info, connect="connection refused", address="10.0.0.7:52700"
    )
    by_name = {c.name: c for c in probe_findings(result)}
    assert by_name["python3"].status == "fail"
    assert by_name["papermill"].status == "fail"
    assert "No module named 'papermill'" in by_name["papermill"].detail
    assert "pip install papermill" in by_name["papermill"].fix
    assert by_name["ipykernel"].status == "ok"
    port = by_name["kernel port"]
    assert port.status == "fail" and "connection refused" in port.detail
    assert "52700-52704" in port.fix


def test_probe_findings_when_the_pod_does_not_start():
    pull = ProbeResult(
        image="nope:1",
        pod="p",
        state=ProbeState("failed", "ImagePullBackOff", 'Back-off pulling image "nope:1"'),
    )
    (check,) = probe_findings(pull)
    assert check.status == "fail"
    assert "ImagePullBackOff: Back-off pulling image" in check.detail
    assert "imagePullSecret" in check.fix
    stuck = ProbeResult(
        image="img:1",
        pod="p",
        timed_out=True,
        state=ProbeState("pending", "Unschedulable", "0/3 nodes are available"),
    )
    (check,) = probe_findings(stuck, timeout=60)
    assert "did not start in 60 s: Unschedulable: 0/3 nodes are available" in check.detail
    created = ProbeResult(image="img:1", create_error="pods is forbidden")
    (check,) = probe_findings(created)
    assert check.status == "fail" and "pods is forbidden" in check.detail
    no_python = ProbeResult(
        image="img:1",
        pod="p",
        state=ProbeState("ended", "StartError", "python3: not found"),
        log_tail=None,
    )
    (check,) = probe_findings(no_python)
    assert check.status == "fail" and "python3" in check.detail


def test_probe_without_a_python_command_fails():
    info = {**GOOD, "python_command": None}
    result = ProbeResult(image="i", pod="p", info=info, connect="ok", address="a")
    check = probe_findings(result)[0]
    assert check.status == "fail" and "`python runner.py`" in check.detail
    assert "python-is-python3" in check.fix
    with_it = {**GOOD, "python_command": "/usr/bin/python"}
    assert probe_findings(ProbeResult(image="i", pod="p", info=with_it))[0].status == "ok"


def test_probe_that_could_not_listen_is_a_warning():
    info = {**GOOD, "listening": None, "listen_error": "OSError: address in use"}
    checks = probe_findings(ProbeResult(image="i", pod="p", info=info))
    assert checks[-1].status == "warn" and "address in use" in checks[-1].detail


# -- configuration, API, GPUs ---------------------------------------------------------------------


def test_kubeconfig_choice():
    assert kubeconfig_choice("/a", "--kubeconfig", "/b", "/home/.kube/config", True) == (
        "/a",
        "set by --kubeconfig",
    )
    assert kubeconfig_choice(None, "x", "/b:/c", "/d", True) == ("/b", "from $KUBECONFIG")
    assert kubeconfig_choice(None, "x", None, "/d", True)[1].startswith("the default location")
    path, why = kubeconfig_choice(None, "x", "", "/d", False)
    assert path is None and "~/.kube/config does not exist" in why


def facts(**kw):
    base = dict(
        source="/k/config",
        context="dev",
        namespace="work",
        context_namespace="work",
        env_kubeconfig="/k/config",
        default_path="/root/.kube/config",
        default_exists=False,
    )
    return {**base, **kw}


def test_config_findings_say_why():
    checks = config_findings(DoctorSettings(), **facts())
    assert [(c.name, c.status, c.detail) for c in checks] == [
        ("kubeconfig", "ok", "/k/config (from $KUBECONFIG)"),
        ("context", "ok", "dev (the kubeconfig's current-context)"),
        ("namespace", "ok", "work (the context's namespace)"),
    ]
    explicit = DoctorSettings(
        kubeconfig="/k/config", context="dev", namespace="work", origins={"context": "--context"}
    )
    texts = [c.detail for c in config_findings(explicit, **facts())]
    assert texts == [
        "/k/config (set by c.JupyterK8s.kubeconfig)",
        "dev (set by --context)",
        "work (set by c.JupyterK8s.namespace)",
    ]


def test_config_findings_warnings():
    checks = config_findings(
        DoctorSettings(),
        **facts(env_kubeconfig="/k/config:/k/other", context_namespace=None, namespace="default"),
    )
    by_name = {c.name: c for c in checks}
    assert (
        by_name["$KUBECONFIG"].status == "warn"
        and "only the first" in by_name["$KUBECONFIG"].detail
    )
    assert by_name["namespace"].status == "warn"
    assert "kubectl config set-context dev --namespace=NAMESPACE" in by_name["namespace"].fix
    incluster = config_findings(
        DoctorSettings(), **facts(source="in-cluster", context=None, env_kubeconfig=None)
    )
    assert [c.name for c in incluster] == ["kubeconfig", "namespace"]
    assert incluster[0].detail.startswith("in-cluster service account")
    assert incluster[1].detail == "work (the pod's own namespace)"
    assert exit_code(incluster) == 0


def test_api_findings():
    ok = api_findings("https://k", {"gitVersion": "v1.37.2"}, None, SA, "context 'dev'")
    assert ok.status == "ok" and ok.detail == f"https://k answers, Kubernetes v1.37.2; you are {SA}"
    down = api_findings("https://k", None, Unreachable("connection refused"), None, "ctx")
    assert down.status == "fail" and "connection refused" in down.detail and down.fix
    rejected = api_findings("https://k", None, KubeError(401, "Unauthorized", "no"), None, "ctx")
    assert (
        rejected.status == "fail" and "401" in rejected.detail and "create token" in (rejected.fix)
    )
    forbidden = api_findings("https://k", None, KubeError(403, "Forbidden", "no"), None, "ctx")
    assert forbidden.status == "ok"  # it answered: it is there


def test_gpu_findings():
    nodes = [
        {"status": {"allocatable": {"nvidia.com/gpu": "2", "cpu": "8"}}},
        {"status": {"allocatable": {"cpu": "8"}}},
    ]
    (check,) = gpu_findings(nodes, [])
    assert check.status == "ok" and check.detail == "2 allocatable on 1 of 2 nodes"
    gpu = Profile(name="amd", gpus=1, gpu_resource="amd.com/gpu")
    checks = gpu_findings(nodes, [gpu])
    assert [c.status for c in checks] == ["ok", "warn"]
    assert "Insufficient amd.com/gpu" in checks[1].detail
    assert gpu_findings([], [])[0].detail == "no node advertises GPUs"
    assert gpu_findings(Forbidden(403, "Forbidden", "no"), [])[0].status == "skip"


# -- the report -----------------------------------------------------------------------------------


def test_report_and_exit_code():
    checks = [
        Check("a", "One", "first", "ok", "fine"),
        Check("b", "One", "second", "warn", "hmm", "do this"),
        Check("c", "Two", "third", "skip", "not run"),
    ]
    report = DoctorReport(checks, server="https://k", context="dev", namespace=NS)
    assert report.ok and exit_code(checks) == 0
    text = format_report(report)
    assert text.splitlines()[:4] == [
        "One",
        "  ✓ first: fine",
        "  ! second: hmm",
        "      fix: do this",
    ]
    assert "  - third: not run" in text
    assert text.endswith("all required checks passed, 1 warning, 1 skipped.")
    data = report.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["counts"] == {"ok": 1, "fail": 0, "warn": 1, "skip": 1}
    assert data["checks"][1] == {
        "id": "b",
        "section": "One",
        "name": "second",
        "status": "warn",
        "detail": "hmm",
        "fix": "do this",
    }
    checks.append(Check("d", "Two", "fourth", "fail", "broken", "fix it"))
    assert exit_code(checks) == 1 and not report.ok
    assert report.to_json()["exit_code"] == 1
    assert format_report(report).endswith("1 required check failed, 1 warning, 1 skipped.")


def test_a_broken_kubeconfig_is_a_finding(tmp_path):
    broken = tmp_path / "config"
    broken.write_text("this: [is not a kubeconfig")
    report = asyncio.run(run_doctor(DoctorSettings(kubeconfig=str(broken))))
    (check,) = report.checks
    assert check.id == "config.load" and check.status == "fail"
    assert str(broken) in check.detail
    assert not report.ok


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["doctor"], {"json": False, "no_probes": False, "timeout": 60}),
        (["doctor", "--json", "--no-probes", "--timeout", "2m"], {"json": True, "timeout": 120}),
        (["doctor", "-n", "x", "--context", "c"], {"namespace": "x", "context": "c"}),
    ],
)
def test_cli_parses_doctor(argv, expected):
    args = cli.build_parser().parse_args(argv)
    assert args.func is cli.doctor.cmd_doctor
    for key, value in expected.items():
        assert getattr(args, key) == value


def test_report_matches_the_documented_schema():
    import jsonschema

    from jupyter_k8s.handlers import default_handlers

    spec = yaml.safe_load((RBAC_PATH.parents[2] / "docs" / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    schema = {**schemas["DoctorReport"], "$defs": {"DoctorCheck": schemas["DoctorCheck"]}}
    schema = json.loads(
        json.dumps(schema).replace("#/components/schemas/DoctorCheck", "#/$defs/DoctorCheck")
    )
    report = DoctorReport(
        [Check("a", "S", "n", "fail", "d", "f"), Check("b", "S", "n", "ok", "d")],
        server=None,
        context="c",
        namespace=NS,
    )
    jsonschema.validate(report.to_json(), schema)
    assert any(pattern.endswith("/doctor") for pattern, _ in default_handlers)
