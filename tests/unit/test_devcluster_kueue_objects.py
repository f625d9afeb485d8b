"""The local cluster's Kueue objects (pure builders) and its remembered --kueue setting."""

from __future__ import annotations

import base64
from pathlib import Path

from jupyter_k8s.devcluster import kueue
from jupyter_k8s.devcluster import kueue_objects as objs

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _hook(name: str, group: str, resource: str, path: str) -> dict:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "service": {"name": "webhook-service", "namespace": "system", "path": path}
        },
        "rules": [
            {
                "apiGroups": [group],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": [resource],
            }
        ],
        "failurePolicy": "Fail",
        "sideEffects": "None",
    }


UPSTREAM_WEBHOOKS = [
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "mutating-webhook-configuration"},
        "webhooks": [
            _hook("mjob.kb.io", "batch", "jobs", "/mutate-batch-v1-job"),
            _hook("mpod.kb.io", "", "pods", "/mutate--v1-pod"),
            _hook("mdeployment.kb.io", "apps", "deployments", "/mutate-apps-v1-deployment"),
            _hook("mrayjob.kb.io", "ray.io", "rayjobs", "/mutate-ray-io-v1-rayjob"),
        ],
    },
    {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "validating-webhook-configuration"},
        "webhooks": [
            _hook(
                "vworkload.kb.io",
                "kueue.x-k8s.io",
                "workloads/status",
                "/validate-kueue-x-k8s-io-v1beta2-workload",
            ),
            _hook("vpod.kb.io", "", "pods", "/validate--v1-pod"),
        ],
    },
]


def test_manager_config_binds_loopback_and_enables_jobs_and_pods():
    cfg = objs.manager_config(
        webhook_port=1, health_port=2, metrics_port=3, visibility_port=4, cert_dir="/c"
    )
    assert cfg["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert cfg["webhook"] == {"host": "127.0.0.1", "port": 1, "certDir": "/c"}
    assert cfg["health"]["healthProbeBindAddress"] == "127.0.0.1:2"
    assert cfg["metrics"]["bindAddress"] == "127.0.0.1:3"
    assert cfg["visibilityServer"] == {"bindAddress": "127.0.0.1", "bindPort": 4}
    assert cfg["internalCertManagement"] == {"enable": False}
    assert cfg["leaderElection"] == {"leaderElect": False}
    assert cfg["integrations"]["frameworks"] == ["batch/job", "pod"]
    (expr,) = cfg["managedJobsNamespaceSelector"]["matchExpressions"]
    assert expr["operator"] == "NotIn" and set(expr["values"]) == {"kube-system", "kueue-system"}


def test_webhooks_kept_to_enabled_integrations_and_called_on_loopback():
    confs = objs.webhook_configurations(UPSTREAM_WEBHOOKS, 9443, CA)
    assert [c["metadata"]["name"] for c in confs] == [
        "kueue-mutating-webhook-configuration",
        "kueue-validating-webhook-configuration",
    ]
    mutating, validating = confs
    assert [h["name"] for h in mutating["webhooks"]] == ["mjob.kb.io", "mpod.kb.io"]
    assert [h["name"] for h in validating["webhooks"]] == ["vworkload.kb.io", "vpod.kb.io"]
    job = mutating["webhooks"][0]
    assert job["clientConfig"] == {
        "url": "https://127.0.0.1:9443/mutate-batch-v1-job",
        "caBundle": base64.b64encode(CA).decode(),
    }
    assert "namespaceSelector" not in job
    for hook in (mutating["webhooks"][1], validating["webhooks"][1]):
        values = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        assert set(values) == {"kube-system", "kueue-system"}
    # The input is left as it was.
    assert "service" in UPSTREAM_WEBHOOKS[0]["webhooks"][0]["clientConfig"]


def test_crds_convert_through_the_manager():
    def crd(plural: str) -> dict:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.kueue.x-k8s.io", "annotations": {"x": "y"}},
            "spec": {"group": "kueue.x-k8s.io", "names": {"plural": plural}},
        }

    workloads, flavors = objs.crds([crd("workloads"), crd("resourceflavors")], 9443, CA)
    hook = workloads["spec"]["conversion"]["webhook"]
    assert workloads["spec"]["conversion"]["strategy"] == "Webhook"
    assert hook["clientConfig"]["url"] == "https://127.0.0.1:9443/convert"
    assert hook["conversionReviewVersions"] == ["v1"]
    assert "conversion" not in flavors["spec"]
    assert workloads["metadata"] == {"name": "workloads.kueue.x-k8s.io"}


def test_visibility_routes_through_an_external_name_service():
    service, v1beta2, v1beta1 = objs.visibility_objects(8082, CA)
    assert service["spec"] == {"type": "ExternalName", "externalName": "localhost"}
    assert service["metadata"] == {"name": "visibility-server", "namespace": "kueue-system"}
    assert v1beta2["metadata"]["name"] == "v1beta2.visibility.kueue.x-k8s.io"
    assert v1beta2["spec"]["service"] == {
        "name": "visibility-server",
        "namespace": "kueue-system",
        "port": 8082,
    }
    assert v1beta2["spec"]["caBundle"] == base64.b64encode(CA).decode()
    assert "insecureSkipTLSVerify" not in v1beta2["spec"]
    assert v1beta1["spec"]["version"] == "v1beta1"
    assert v1beta2["spec"]["versionPriority"] > v1beta1["spec"]["versionPriority"]


def test_sample_queue_sized_to_the_node():
    flavor, cq, lq, low, high = objs.sample_objects("ns1", cpu="2", memory="8Gi", gpus="1")
    assert flavor["kind"] == "ResourceFlavor" and flavor["metadata"]["name"] == "default-flavor"
    assert cq["metadata"]["name"] == "team-a"
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    (flv,) = group["flavors"]
    assert flv["name"] == "default-flavor"
    assert {r["name"]: r["nominalQuota"] for r in flv["resources"]} == {
        "cpu": "2",
        "memory": "8Gi",
        "nvidia.com/gpu": "1",
    }
    assert cq["spec"]["preemption"] == {"withinClusterQueue": "LowerPriority"}
    assert cq["spec"]["queueingStrategy"] == "BestEffortFIFO"
    assert lq["metadata"] == {"name": "gpu", "namespace": "ns1"}
    assert lq["spec"] == {"clusterQueue": "team-a"}
    assert (low["metadata"]["name"], low["value"]) == ("low", 100)
    assert (high["metadata"]["name"], high["value"]) == ("high", 1000)


def test_paths():
    _, cq, lq, *_ = objs.sample_objects("my ns", cpu="1", memory="1Gi", gpus="0")
    assert objs.object_path(cq) == "/apis/kueue.x-k8s.io/v1beta2/clusterqueues/team-a"
    assert objs.object_path(lq) == "/apis/kueue.x-k8s.io/v1beta2/namespaces/my%20ns/localqueues/gpu"
    assert objs.object_path(objs.namespace()) == "/api/v1/namespaces/kueue-system"
    service = objs.visibility_objects(1, CA)[0]
    assert objs.object_path(service) == "/api/v1/namespaces/kueue-system/services/visibility-server"
    assert objs.pending_workloads_path("ns1", "gpu") == (
        "/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/ns1/localqueues/gpu/pendingworkloads"
    )


def test_kueue_setting_is_remembered(tmp_path: Path):
    assert kueue.recorded(tmp_path) is False
    kueue.record(tmp_path, True)
    assert kueue.recorded(tmp_path) is True
    kueue.record(tmp_path, False)
    assert kueue.recorded(tmp_path) is False
    (tmp_path / "kueue" / "settings.json").write_text("{not json")
    assert kueue.recorded(tmp_path) is False
