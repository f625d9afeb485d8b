"""What the local cluster's Kueue is made of, as plain dicts (pure functions, no I/O).

Kueue's own manifests are shaped for a Deployment behind Services in kueue-system; here the
manager is a local process, so:

- webhooks (admission and CRD conversion) are called at `https://127.0.0.1:<port><path>` and
  trust the cluster's CA, which signs the manager's serving certificate;
- only the webhooks of what is enabled are kept: Kueue's own kinds and the integrations
  `batch/job` and `pod`. A webhook left registered for a disabled integration (apps
  Deployments, say) would have every create of those objects fail against a path nobody serves;
- the visibility API is registered with the aggregation layer through an ExternalName
  Service `localhost`: the aggregator resolves such a Service to `<externalName>:<port>`
  (k8s.io/apiserver's ResolveCluster), where EndpointSlices may not point at loopback.
"""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import quote

Obj = dict[str, Any]

KUEUE_NAMESPACE = "kueue-system"
KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_API = f"{KUEUE_GROUP}/v1beta2"
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VISIBILITY_VERSIONS = ("v1beta2", "v1beta1")
VISIBILITY_SERVICE = "visibility-server"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"

FRAMEWORKS = ("batch/job", "pod")
# (API group, resource) the webhooks of FRAMEWORKS and of Kueue's own kinds are for.
_ENABLED_RESOURCES = {("batch", "jobs"), ("", "pods")}
# Kueue's CRDs that upstream serves with a conversion webhook (v1beta1 <-> v1beta2).
CONVERTED_CRDS = (
    "localqueues",
    "clusterqueues",
    "cohorts",
    "workloads",
    "multikueueclusters",
)
# Upstream keeps Kueue's pod webhooks off these namespaces, so system pods never wait on it.
UNMANAGED_NAMESPACES = ("kube-system", KUEUE_NAMESPACE)

#: The sample queue objects `up --kueue` creates.
FLAVOR = "default-flavor"
CLUSTER_QUEUE = "team-a"
LOCAL_QUEUE = "gpu"
PRIORITY_CLASSES = {"low": 100, "high": 1000}


def _unmanaged_selector() -> Obj:
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": list(UNMANAGED_NAMESPACES),
            }
        ]
    }


def manager_config(
    *,
    webhook_port: int,
    health_port: int,
    metrics_port: int,
    visibility_port: int,
    cert_dir: str,
) -> Obj:
    """The manager's Configuration: everything on 127.0.0.1, no leader election, our certs."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": KUEUE_NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": cert_dir},
        # One manager per cluster: nothing to elect, and no Lease traffic.
        "leaderElection": {"leaderElect": False},
        # The cluster's CA issues the certificates; Kueue's rotator would want Services.
        "internalCertManagement": {"enable": False},
        "visibilityServer": {"bindAddress": "127.0.0.1", "bindPort": visibility_port},
        "integrations": {"frameworks": list(FRAMEWORKS)},
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": _unmanaged_selector(),
        "clientConnection": {"qps": 50, "burst": 100},
    }


def _pem_b64(ca_pem: bytes) -> str:
    return base64.b64encode(ca_pem).decode()


def _kept(webhook: Obj) -> bool:
    for rule in webhook.get("rules") or []:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                base = resource.split("/", 1)[0]
                if group == KUEUE_GROUP or (group, base) in _ENABLED_RESOURCES:
                    return True
    return False


def webhook_configurations(upstream: list[Obj], port: int, ca_pem: bytes) -> list[Obj]:
    """Upstream's Mutating/ValidatingWebhookConfigurations, kept to what is enabled, each
    webhook called at 127.0.0.1:`port` and trusting `ca_pem`."""
    out = []
    for doc in upstream:
        if doc.get("kind") not in (
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ):
            continue
        conf = copy.deepcopy(doc)
        # Upstream's kustomize prefixes every name with "kueue-".
        conf["metadata"] = {"name": f"kueue-{doc['metadata']['name']}"}
        hooks = []
        for hook in conf.get("webhooks") or []:
            if not _kept(hook):
                continue
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {
                "url": f"https://127.0.0.1:{port}{path}",
                "caBundle": _pem_b64(ca_pem),
            }
            if any(("", "pods") == (g, r) for g, r in _rule_pairs(hook)):
                hook["namespaceSelector"] = _unmanaged_selector()
            hooks.append(hook)
        conf["webhooks"] = hooks
        out.append(conf)
    return out


def _rule_pairs(hook: Obj) -> list[tuple[str, str]]:
    return [
        (g, r.split("/", 1)[0])
        for rule in hook.get("rules") or []
        for g in rule.get("apiGroups") or []
        for r in rule.get("resources") or []
    ]


def crds(upstream: list[Obj], port: int, ca_pem: bytes) -> list[Obj]:
    """Upstream's CRDs; those it converts between versions call the manager's /convert."""
    out = []
    for doc in upstream:
        crd = copy.deepcopy(doc)
        crd["metadata"] = {"name": doc["metadata"]["name"]}
        if crd["spec"]["names"]["plural"] in CONVERTED_CRDS:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port}/convert",
                        "caBundle": _pem_b64(ca_pem),
                    },
                    "conversionReviewVersions": ["v1"],
                },
            }
        out.append(crd)
    return out


def visibility_objects(port: int, ca_pem: bytes) -> list[Obj]:
    """The Service the aggregator resolves to 127.0.0.1:`port`, and one APIService per
    version. The aggregator checks the server's certificate for
    `visibility-server.kueue-system.svc` against `ca_pem`."""
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": VISIBILITY_SERVICE, "namespace": KUEUE_NAMESPACE},
        "spec": {"type": "ExternalName", "externalName": "localhost"},
    }
    services = [
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{version}.{VISIBILITY_GROUP}"},
            "spec": {
                "group": VISIBILITY_GROUP,
                "version": version,
                "groupPriorityMinimum": 100,
                "versionPriority": 100 if version == "v1beta2" else 90,
                "caBundle": _pem_b64(ca_pem),
                "service": {"name": VISIBILITY_SERVICE, "namespace": KUEUE_NAMESPACE, "port": port},
            },
        }
        for version in VISIBILITY_VERSIONS
    ]
    return [service, *services]


def namespace(name: str = KUEUE_NAMESPACE) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def sample_objects(
    namespace: str, cpu: str, memory: str, gpus: str, local_queue: str = LOCAL_QUEUE
) -> list[Obj]:
    """A ResourceFlavor, a ClusterQueue with the node's allocatable as its nominal quota,
    a LocalQueue in `namespace`, and the WorkloadPriorityClasses low and high."""
    cluster_queue: Obj = {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": CLUSTER_QUEUE},
        "spec": {
            "namespaceSelector": {},
            # A GPU job waiting for quota must not hold back CPU-only work queued behind it;
            # positions stay meaningful (the visibility API orders by priority, then time).
            "queueingStrategy": "BestEffortFIFO",
            "preemption": {"withinClusterQueue": "LowerPriority"},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                    "flavors": [
                        {
                            "name": FLAVOR,
                            "resources": [
                                {"name": "cpu", "nominalQuota": cpu},
                                {"name": "memory", "nominalQuota": memory},
                                {"name": "nvidia.com/gpu", "nominalQuota": gpus},
                            ],
                        }
                    ],
                }
            ],
        },
    }
    priority_classes = [
        {
            "apiVersion": KUEUE_API,
            "kind": "WorkloadPriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": f"sample priority {name} of the local cluster",
        }
        for name, value in PRIORITY_CLASSES.items()
    ]
    return [
        {"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": FLAVOR}},
        cluster_queue,
        {
            "apiVersion": KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": local_queue, "namespace": namespace},
            "spec": {"clusterQueue": CLUSTER_QUEUE},
        },
        *priority_classes,
    ]


# kind -> (plural, namespaced) of what is applied here.
_PLURALS: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "Service": ("services", True),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
    "APIService": ("apiservices", False),
    "ResourceFlavor": ("resourceflavors", False),
    "ClusterQueue": ("clusterqueues", False),
    "LocalQueue": ("localqueues", True),
    "WorkloadPriorityClass": ("workloadpriorityclasses", False),
}


def object_path(obj: Obj) -> str:
    """The REST path of `obj` (one of the kinds above)."""
    api = obj["apiVersion"]
    plural, namespaced = _PLURALS[obj["kind"]]
    path = "/api/v1" if api == "v1" else f"/apis/{api}"
    if namespaced:
        path += f"/namespaces/{quote(obj['metadata']['namespace'], safe='')}"
    return f"{path}/{plural}/{quote(obj['metadata']['name'], safe='')}"


def pending_workloads_path(namespace: str, local_queue: str, version: str = "v1beta2") -> str:
    """Where the visibility API lists a LocalQueue's pending workloads."""
    return (
        f"/apis/{VISIBILITY_GROUP}/{version}/namespaces/{quote(namespace, safe='')}"
        f"/localqueues/{quote(local_queue, safe='')}/pendingworkloads"
    )
