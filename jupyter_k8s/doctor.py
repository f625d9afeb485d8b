"""`jupyter k8s doctor`: a checklist of what jupyter-k8s needs from a cluster, with fixes.

What it checks, in order (docs/doctor.md explains each check and its fix):

- which kubeconfig, context and namespace were chosen, and why;
- that the API server answers (`/version`), and who we are there;
- every verb of the shipped Role (jupyter_k8s/manifests/rbac.yaml, read from the file), each
  asked with a SelfSubjectAccessReview, plus the optional ones (list nodes for GPU totals,
  Kueue workloads when Kueue is installed);
- the namespace's Pod Security level and its ResourceQuotas (hard, used, what is left);
- the default image, resolved as jobs resolve it, and a short probe pod in that image that
  prints the Python version and whether papermill and ipykernel import, then listens on the
  first kernel port so that this process can check it reaches pod IPs as remote kernels need;
- the GPUs the nodes advertise.

The logic is plain async Python: pure functions turn the cluster's answers into `Check`s
(unit-tested without a cluster) and `run_doctor` makes the calls, concurrently where they
are independent. The CLI (`jupyter k8s doctor`) and the REST API (`GET /jupyter-k8s/doctor`)
both call `run_doctor`. Nothing here raises for cluster trouble: trouble is a finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from .k8s.client import Forbidden, KubeClient, KubeError, NotFound, resource_path
from .k8s.cluster import node_gpus
from .k8s.cluster_defaults import (
    DEFAULTS_NAME,
    DEFAULTS_NAMESPACE,
    NO_IMAGE_HINT,
    read_advertised_image,
)
from .k8s.objects import (
    MANAGED_BY,
    condition,
    container,
    event_message,
    events_about,
    pod_spec,
    restricted_pod_security,
)
from .k8s.quantity import format_cpu, parse_quantity
from .kernels.objects import DEFAULT_PORTS

if TYPE_CHECKING:
    from .profiles import Profile

Obj = dict[str, Any]
Status = Literal["ok", "fail", "warn", "skip"]
Progress = Callable[[str], Any]

#: How each status is shown in the checklist.
SYMBOLS: dict[str, str] = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}

RBAC_PATH = Path(__file__).parent / "manifests" / "rbac.yaml"

#: Labels of the probe pods: `kubectl delete pods -l app.kubernetes.io/component=doctor-probe`
#: finds any left behind (they also end themselves: activeDeadlineSeconds).
LABEL_COMPONENT = "app.kubernetes.io/component"
PROBE_COMPONENT = "doctor-probe"
PROBE_SELECTOR = f"app.kubernetes.io/managed-by=jupyter-k8s,{LABEL_COMPONENT}={PROBE_COMPONENT}"
PROBE_CONTAINER = "probe"
PROBE_MARKER = "JUPYTER_K8S_DOCTOR"
#: The first port of a kernel pod, where the probe listens.
KERNEL_PORT = DEFAULT_PORTS["shell_port"]
_KERNEL_PORTS = f"{min(DEFAULT_PORTS.values())}-{max(DEFAULT_PORTS.values())}"
PROBE_TIMEOUT = 60.0
MIN_PYTHON = (3, 8)

POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"

#: What the probe pod runs (`python3 -c PROBE_SCRIPT NONCE PORT LINGER`): one line with what
#: it found, after it listens on PORT at the pod's IP; every connection gets NONCE back, so
#: the doctor knows it reached this pod and nothing else. It ends after LINGER seconds.
PROBE_SCRIPT = """\
import json, os, shutil, socket, sys, time
nonce, port, linger = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
info = {"python": sys.version.split()[0], "executable": sys.executable}
info["python_command"] = shutil.which("python")
for name in ("papermill", "ipykernel"):
    try:
        module = __import__(name)
        info[name] = str(getattr(module, "__version__", "") or "unknown version")
    except BaseException as exc:
        info[name] = None
        info[name + "_error"] = (type(exc).__name__ + ": " + str(exc))[:300]
ip = os.environ.get("POD_IP") or "0.0.0.0"
server = None
try:
    server = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((ip, port))
    server.listen(8)
    info["listening"] = ip + ":" + str(port)
except OSError as exc:
    info["listen_error"] = (type(exc).__name__ + ": " + str(exc))[:300]
    server = None
print("%s %s" % ("JUPYTER_K8S_DOCTOR", json.dumps(info)), flush=True)
deadline = time.monotonic() + linger
while server is not None and time.monotonic() < deadline:
    server.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        conn, _ = server.accept()
    except OSError:
        break
    try:
        conn.sendall(("%s %s\\n" % ("JUPYTER_K8S_DOCTOR", nonce)).encode())
    except OSError:
        pass
    conn.close()
"""


# -- findings ----------------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the checklist. `fail`: something required is missing (exit code 1);
    `warn`: worth knowing or optional; `skip`: not checked (and why)."""

    id: str
    section: str
    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    server: str | None = None
    context: str | None = None
    namespace: str | None = None

    @property
    def ok(self) -> bool:
        return exit_code(self.checks) == 0

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SYMBOLS, 0)
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": exit_code(self.checks),
            "counts": self.counts(),
            "server": self.server,
            "context": self.context,
            "namespace": self.namespace,
            "checks": [asdict(c) for c in self.checks],
        }


def exit_code(checks: Iterable[Check]) -> int:
    """1 when a required check failed, else 0 (warnings and skipped checks don't count)."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def format_report(report: DoctorReport) -> str:
    """The checklist as text: sections, one line per check, the fix under each problem."""
    lines: list[str] = []
    section = None
    for check in report.checks:
        if check.section != section:
            section = check.section
            if lines:
                lines.append("")
            lines.append(section)
        text = f"  {check.symbol} {check.name}: {check.detail}"
        lines.append(text)
        if check.fix and check.status in ("fail", "warn"):
            fix_lines = check.fix.splitlines() or [""]
            lines.append(f"      fix: {fix_lines[0]}")
            lines.extend(f"           {more}" for more in fix_lines[1:])
    counts = report.counts()
    lines.append("")
    if counts["fail"]:
        summary = f"{counts['fail']} required check{'s' if counts['fail'] != 1 else ''} failed"
    else:
        summary = "all required checks passed"
    if counts["warn"]:
        summary += f", {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}"
    if counts["skip"]:
        summary += f", {counts['skip']} skipped"
    lines.append(summary + ".")
    return "\n".join(lines)


# -- configuration: which kubeconfig, context and namespace, and why ---------------------------


@dataclass(frozen=True)
class DoctorSettings:
    """What the doctor needs from configuration (the `c.JupyterK8s.*` traits)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    profiles: list[dict[str, Any]] | None = None  # raw, as configured
    default_image: str | None = None  # c.JupyterK8s.default_image
    owner: str = "doctor"
    #: How explicit values were given, by name ("--kubeconfig" on the command line, ...);
    #: default: `c.JupyterK8s.<name>`.
    origins: Mapping[str, str] = field(default_factory=dict)
    probe_timeout: float = PROBE_TIMEOUT
    kernel_port: int = KERNEL_PORT

    def origin(self, name: str) -> str:
        return self.origins.get(name) or f"c.JupyterK8s.{name}"


def settings_from_app(app: Any, origins: Mapping[str, str] | None = None) -> DoctorSettings:
    """DoctorSettings from a `JupyterK8s` (the server's extension app, or the CLI's)."""
    return DoctorSettings(
        kubeconfig=app.kubeconfig or None,
        context=app.context or None,
        namespace=app.namespace or None,
        profiles=app.profiles,
        default_image=app.default_image or None,
        owner=app.owner or "doctor",
        origins=dict(origins or {}),
    )


def kubeconfig_choice(
    explicit: str | None,
    explicit_origin: str,
    env_kubeconfig: str | None,
    default_path: str,
    default_exists: bool,
) -> tuple[str | None, str]:
    """(the kubeconfig path or None for in-cluster, why), as `client.load_config` chooses."""
    if explicit:
        return explicit, f"set by {explicit_origin}"
    entries = [e for e in (env_kubeconfig or "").split(os.pathsep)]
    if entries and entries[0]:
        return entries[0], "from $KUBECONFIG"
    if default_exists:
        return default_path, "the default location; $KUBECONFIG is not set"
    return None, "no kubeconfig: $KUBECONFIG is not set and ~/.kube/config does not exist"


def config_findings(
    settings: DoctorSettings,
    *,
    source: str,
    context: str | None,
    namespace: str,
    context_namespace: str | None,
    env_kubeconfig: str | None,
    default_path: str,
    default_exists: bool,
) -> list[Check]:
    """The configuration lines: kubeconfig, context and namespace, each with why."""
    sec = "Configuration"
    checks: list[Check] = []
    _path, why = kubeconfig_choice(
        settings.kubeconfig,
        settings.origin("kubeconfig"),
        env_kubeconfig,
        default_path,
        default_exists,
    )
    in_cluster = source == "in-cluster"
    if in_cluster:
        checks.append(
            Check(
                "config.kubeconfig", sec, "kubeconfig", "ok", f"in-cluster service account ({why})"
            )
        )
    else:
        checks.append(Check("config.kubeconfig", sec, "kubeconfig", "ok", f"{source} ({why})"))
        entries = [e for e in (env_kubeconfig or "").split(os.pathsep) if e]
        if not settings.kubeconfig and len(entries) > 1:
            checks.append(
                Check(
                    "config.kubeconfig-list",
                    sec,
                    "$KUBECONFIG",
                    "warn",
                    f"lists {len(entries)} files; jupyter-k8s reads only the first ({entries[0]}), "
                    "where kubectl merges them",
                    f"set {settings.origin('kubeconfig')} to the file that has the context to use",
                )
            )
    if not in_cluster:
        if settings.context:
            why_ctx = f"set by {settings.origin('context')}"
        else:
            why_ctx = "the kubeconfig's current-context"
        checks.append(
            Check("config.context", sec, "context", "ok", f"{context or '-'} ({why_ctx})")
        )
    if settings.namespace:
        why_ns, status, fix = f"set by {settings.origin('namespace')}", "ok", None
    elif in_cluster:
        why_ns, status, fix = "the pod's own namespace", "ok", None
    elif context_namespace:
        why_ns, status, fix = "the context's namespace", "ok", None
    else:
        why_ns, status = "the context names no namespace, so Kubernetes' default", "warn"
        fix = (
            f"set {settings.origin('namespace')} (or the context's namespace: kubectl config "
            f"set-context {context or '--current'} --namespace=NAMESPACE)"
        )
    checks.append(
        Check("config.namespace", sec, "namespace", status, f"{namespace} ({why_ns})", fix)
    )
    return checks


def _local_facts(source: str, context: str | None) -> tuple[str, bool, str | None]:
    """(~/.kube/config expanded, whether it exists, the chosen context's namespace)."""
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

    default_path = os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)
    context_ns = _context_namespace(source, context) if source != "in-cluster" else None
    return default_path, os.path.exists(default_path), context_ns


def _context_namespace(path: str, context: str | None) -> str | None:
    """The namespace the kubeconfig's (chosen or current) context names, if any."""
    from kubernetes.config.kube_config import list_kube_config_contexts

    try:
        contexts, active = list_kube_config_contexts(path)
    except Exception:  # noqa: BLE001 - it loaded a moment ago; a race only loses the reason
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else None
    chosen = chosen or active or {}
    return (chosen.get("context") or {}).get("namespace") or None


# -- the API server ----------------------------------------------------------------------------


def api_findings(
    server: str, version: Obj | None, error: KubeError | None, identity: str | None, where: str
) -> Check:
    sec = "Cluster"
    if error is None or (error.status not in (0, 401)):
        text = f"{server} answers"
        if isinstance(version, dict) and version.get("gitVersion"):
            text += f", Kubernetes {version['gitVersion']}"
        elif error is not None:
            text += f" (GET /version: {error.status} {error.message})"
        if identity:
            text += f"; you are {identity}"
        return Check("api.reachable", sec, "API server", "ok", text)
    if error.status == 401:
        return Check(
            "api.reachable",
            sec,
            "API server",
            "fail",
            f"{server} rejected the credentials of {where} (401 Unauthorized): {error.message}",
            "the token or certificate expired or is not for this cluster: get a new kubeconfig "
            "(for a ServiceAccount: kubectl -n NAMESPACE create token jupyter-k8s)",
        )
    return Check(
        "api.reachable",
        sec,
        "API server",
        "fail",
        error.message if server in error.message else f"cannot reach {server}: {error.message}",
        f"check that the cluster runs and that {where} points at it "
        "(kubectl version shows the same), or set c.JupyterK8s.kubeconfig / context",
    )


# -- permissions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str
    subresource: str = ""

    @property
    def target(self) -> str:
        """ "batch/jobs", "pods/log", "events.k8s.io/events", "secrets"."""
        text = f"{self.group}/{self.resource}" if self.group else self.resource
        return f"{text}/{self.subresource}" if self.subresource else text

    @property
    def text(self) -> str:
        return f"{self.verb} {self.target}"

    def review(self, namespace: str | None) -> Obj:
        """The SelfSubjectAccessReview that asks for this permission."""
        attrs: Obj = {"verb": self.verb, "group": self.group, "resource": self.resource}
        if self.subresource:
            attrs["subresource"] = self.subresource
        if namespace:
            attrs["namespace"] = namespace
        return {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }


def required_permissions(rbac_text: str | None = None) -> list[Permission]:
    """Every verb of the shipped Role's rules (jupyter_k8s/manifests/rbac.yaml), in order."""
    text = RBAC_PATH.read_text() if rbac_text is None else rbac_text
    perms: list[Permission] = []
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict) or doc.get("kind") != "Role":
            continue
        for rule in doc.get("rules") or []:
            for group in rule.get("apiGroups") or [""]:
                for res in rule.get("resources") or []:
                    resource, _, sub = res.partition("/")
                    for verb in rule.get("verbs") or []:
                        perm = Permission(verb, group, resource, sub)
                        if perm not in perms:
                            perms.append(perm)
    return perms


def _rule_text(group: str, resource: str, verbs: Iterable[str]) -> str:
    return (
        f'- apiGroups: ["{group}"]\n'
        f'  resources: ["{resource}"]\n'
        f"  verbs: [{', '.join(json.dumps(v) for v in verbs)}]"
    )


def _answer(review: Obj | BaseException | None) -> tuple[bool | None, str]:
    """(allowed, why) of a SelfSubjectAccessReview answer; None: could not be asked."""
    if isinstance(review, BaseException):
        return None, str(review)
    status = (review or {}).get("status") or {}
    why = status.get("reason") or status.get("evaluationError") or ""
    return bool(status.get("allowed")), why


def permission_findings(
    perms: list[Permission],
    answers: Mapping[Permission, Obj | BaseException],
    namespace: str,
    identity: str | None,
    rbac_path: str | os.PathLike[str] = RBAC_PATH,
) -> list[Check]:
    """One line per resource of the Role: its verbs, and the missing ones with the rule to add."""
    sec = "Permissions"
    by_target: dict[str, list[Permission]] = {}
    for perm in perms:
        by_target.setdefault(perm.target, []).append(perm)
    checks: list[Check] = []
    who = identity or "this identity"
    for target, group in by_target.items():
        allowed = {p: _answer(answers.get(p))[0] for p in group}
        denied = [p for p in group if allowed[p] is False]
        unknown = [p for p in group if allowed[p] is None]
        verbs = ", ".join(p.verb for p in group)
        cid = f"rbac.{target}"
        if denied:
            missing = ", ".join(p.text for p in denied)
            first = denied[0]
            resource = (
                f"{first.resource}/{first.subresource}" if first.subresource else first.resource
            )
            fix = (
                f"add this rule to the Role bound to {who} in namespace {namespace}:\n"
                + _rule_text(first.group, resource, [p.verb for p in denied])
                + "\n(the shipped Role has every rule jupyter-k8s needs: "
                f"kubectl apply -n {namespace} -f {rbac_path})"
            )
            checks.append(Check(cid, sec, target, "fail", f"{missing}: denied", fix))
        elif unknown:
            why = _answer(answers.get(unknown[0]))[1]
            checks.append(
                Check(
                    cid,
                    sec,
                    target,
                    "warn",
                    f"could not check {', '.join(p.verb for p in unknown)}: {why}",
                    "SelfSubjectAccessReview must be allowed to every authenticated identity "
                    "(the default ClusterRole system:basic-user)",
                )
            )
        else:
            checks.append(Check(cid, sec, target, "ok", verbs))
    return checks


def binding_subject(identity: str | None, namespace: str) -> str:
    """The `kubectl create clusterrolebinding` option that names this identity."""
    if identity and identity.startswith("system:serviceaccount:"):
        parts = identity.split(":")
        if len(parts) == 4:
            return f"--serviceaccount={parts[2]}:{parts[3]}"
    if identity:
        return f"--user={identity}"
    return f"--serviceaccount={namespace}:jupyter-k8s"


NODES = Permission("list", "", "nodes")
WORKLOAD_VERBS = ("list", "watch")
KUEUE_GROUP = "kueue.x-k8s.io"


def nodes_finding(
    answer: Obj | BaseException | None, identity: str | None, namespace: str
) -> Check:
    sec = "Permissions"
    allowed, why = _answer(answer)
    name = "list nodes (optional)"
    if allowed:
        return Check("rbac.nodes", sec, name, "ok", "allowed: GPU totals are shown")
    if allowed is None:
        return Check("rbac.nodes", sec, name, "warn", f"could not check: {why}")
    return Check(
        "rbac.nodes",
        sec,
        name,
        "warn",
        "denied: the cluster card cannot show GPU totals (nothing else needs it)",
        "if GPU totals are wanted, a cluster admin runs:\n"
        "kubectl create clusterrole jupyter-k8s-nodes --verb=get,list --resource=nodes\n"
        "kubectl create clusterrolebinding jupyter-k8s-nodes --clusterrole=jupyter-k8s-nodes "
        + binding_subject(identity, namespace),
    )


def kueue_finding(
    installed: bool | None,
    answers: Mapping[str, Obj | BaseException] | None,
    namespace: str,
    identity: str | None,
    error: str | None = None,
) -> Check:
    sec = "Permissions"
    name = f"Kueue workloads.{KUEUE_GROUP} (optional)"
    if installed is None:
        return Check(
            "rbac.kueue", sec, name, "warn", f"could not tell whether Kueue is installed: {error}"
        )
    if not installed:
        return Check("rbac.kueue", sec, name, "ok", "not installed")
    denied = [v for v in WORKLOAD_VERBS if _answer((answers or {}).get(v))[0] is not True]
    if not denied:
        return Check(
            "rbac.kueue", sec, name, "ok", "installed; workloads can be listed and watched"
        )
    return Check(
        "rbac.kueue",
        sec,
        name,
        "warn",
        f"installed, but {', '.join(f'{v} workloads.{KUEUE_GROUP}' for v in denied)} denied: "
        "queue positions of waiting jobs cannot be shown",
        f"add this rule to the Role bound to {identity or 'this identity'} in namespace "
        f"{namespace}:\n" + _rule_text(KUEUE_GROUP, "workloads", ["get", *WORKLOAD_VERBS]),
    )


# -- the namespace: Pod Security and quotas ----------------------------------------------------


def pod_security_finding(namespace: str, ns_obj: Obj | BaseException | None) -> Check:
    """The namespace's Pod Security level from its labels."""
    sec = "Namespace"
    name = "Pod Security"
    label_fix = (
        f"kubectl label namespace {namespace} {POD_SECURITY_PREFIX}enforce=restricted --overwrite"
    )
    if isinstance(ns_obj, Forbidden):
        return Check(
            "namespace.pod-security",
            sec,
            name,
            "warn",
            "unknown (cannot read the namespace; a namespaced identity may not): jupyter-k8s "
            "pods meet the restricted level either way",
            f"a cluster admin can check: kubectl get namespace {namespace} --show-labels",
        )
    if isinstance(ns_obj, NotFound):
        return Check(
            "namespace.pod-security",
            sec,
            "namespace",
            "fail",
            f"namespace {namespace} does not exist",
            f"kubectl create namespace {namespace}\n{label_fix}\n"
            f"kubectl apply -n {namespace} -f {RBAC_PATH}",
        )
    if isinstance(ns_obj, BaseException) or ns_obj is None:
        return Check(
            "namespace.pod-security", sec, name, "warn", f"unknown: {ns_obj or 'no answer'}"
        )
    labels = (ns_obj.get("metadata") or {}).get("labels") or {}
    modes = {
        mode: labels[f"{POD_SECURITY_PREFIX}{mode}"]
        for mode in ("enforce", "warn", "audit")
        if f"{POD_SECURITY_PREFIX}{mode}" in labels
    }
    others = ", ".join(f"{m}={v}" for m, v in modes.items() if m != "enforce")
    extra = f" ({others})" if others else ""
    enforce = modes.get("enforce")
    if enforce == "restricted":
        version = labels.get(f"{POD_SECURITY_PREFIX}enforce-version")
        vtext = f", version {version}" if version else ""
        return Check(
            "namespace.pod-security", sec, name, "ok", f"restricted enforced{vtext}{extra}"
        )
    level = f"{enforce} enforced" if enforce else "nothing enforced"
    return Check(
        "namespace.pod-security",
        sec,
        name,
        "warn",
        f"{level}{extra}: jupyter-k8s pods meet restricted, other pods here need not",
        label_fix,
    )


_GI = 1024**3
_MI = 1024**2


def format_amount(key: str, value: Decimal) -> str:
    """A quota amount for people: CPU in cores or millicores, bytes in Mi/Gi, else a count."""
    if key == "cpu" or key.endswith(".cpu"):
        return format_cpu(value)
    if "memory" in key or "storage" in key:
        n = int(value)
        if n and n % _GI == 0:
            return f"{n // _GI}Gi"
        if n >= _GI:
            return f"{n / _GI:.1f}Gi"
        if n and n % _MI == 0:
            return f"{n // _MI}Mi"
        if n >= _MI:
            return f"{n / _MI:.1f}Mi"
        return str(n)
    if value == value.to_integral_value():
        return str(int(value))
    return str(value.normalize())


def profile_needs(profile: Profile | None) -> dict[str, Decimal]:
    """What one job or kernel of `profile` takes from a ResourceQuota, by quota key."""
    needs: dict[str, Decimal] = {
        key: Decimal(1)
        for key in ("pods", "count/pods", "count/jobs.batch", "configmaps", "count/configmaps")
    }
    if profile is None:
        return needs
    cpu = profile.cpu_request or profile.cpu_limit  # a limit alone is also the request
    memory = profile.memory_request or profile.memory_limit
    for keys, value in (
        (("cpu", "requests.cpu"), cpu),
        (("memory", "requests.memory"), memory),
        (("limits.cpu",), profile.cpu_limit),
        (("limits.memory",), profile.memory_limit),
    ):
        if value:
            try:
                amount = parse_quantity(value)
            except ValueError:
                continue
            for key in keys:
                needs[key] = amount
    if profile.gpus:
        needs[f"requests.{profile.gpu_resource}"] = Decimal(profile.gpus)
    return needs


def quota_findings(
    namespace: str, quotas: list[Obj] | BaseException, profile: Profile | None
) -> list[Check]:
    """One line per ResourceQuota: hard, used and what is left, and whether a job still fits."""
    sec = "Namespace"
    if isinstance(quotas, BaseException):
        return [
            Check(
                "namespace.quota",
                sec,
                "ResourceQuota",
                "warn",
                f"cannot list ResourceQuotas: {quotas}",
                "the shipped Role allows it (get, list resourcequotas): see Permissions",
            )
        ]
    if not quotas:
        return [Check("namespace.quota", sec, "ResourceQuota", "ok", f"none in {namespace}")]
    needs = profile_needs(profile)
    pname = f"profile {profile.name!r}" if profile is not None else "a job"
    checks = []
    for quota in sorted(quotas, key=lambda q: (q.get("metadata") or {}).get("name") or ""):
        qname = (quota.get("metadata") or {}).get("name") or "?"
        status = quota.get("status") or {}
        hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = status.get("used") or {}
        parts, short, unlimited = [], [], []
        for key in sorted(hard):
            try:
                h = parse_quantity(hard[key])
                u = parse_quantity(used.get(key, "0"))
            except ValueError:
                continue
            left = max(h - u, Decimal(0))
            parts.append(
                f"{key} {format_amount(key, u)}/{format_amount(key, h)} "
                f"({format_amount(key, left)} left)"
            )
            need = needs.get(key)
            if need is not None and left < need:
                short.append(
                    f"{key}: {format_amount(key, left)} left, {pname} needs "
                    f"{format_amount(key, need)}"
                )
        if profile is not None:
            for key, attr in (("limits.cpu", "cpu_limit"), ("limits.memory", "memory_limit")):
                if key in hard and not getattr(profile, attr):
                    unlimited.append(key)
        detail = f"{qname}: " + ("; ".join(parts) if parts else "no limits")
        if short:
            checks.append(
                Check(
                    f"namespace.quota.{qname}",
                    sec,
                    "ResourceQuota",
                    "warn",
                    detail + ". Not enough left: " + "; ".join(short),
                    "delete finished jobs (jupyter k8s jobs, jupyter k8s delete JOB) or ask a "
                    f"cluster admin to raise it: kubectl -n {namespace} edit resourcequota {qname}",
                )
            )
        elif unlimited:
            checks.append(
                Check(
                    f"namespace.quota.{qname}",
                    sec,
                    "ResourceQuota",
                    "warn",
                    detail + f". It limits {', '.join(unlimited)}, which {pname} does not set: "
                    "its pods are refused unless a LimitRange gives defaults",
                    "set cpu_limit / memory_limit in the profile (c.JupyterK8s.profiles), or "
                    "add a LimitRange with default limits to the namespace",
                )
            )
        else:
            checks.append(Check(f"namespace.quota.{qname}", sec, "ResourceQuota", "ok", detail))
    return checks


# -- the image ---------------------------------------------------------------------------------


def resolve_image(
    profile: Profile | None,
    configured: str | None,
    env_image: str | None,
    advertised: str | None,
) -> tuple[str | None, str]:
    """(image, where it comes from), in the order jobs resolve it."""
    if profile is not None and profile.image:
        return profile.image, f"profile {profile.name!r}"
    if configured:
        return configured, "c.JupyterK8s.default_image"
    if env_image:
        return env_image, "JupyterHub's JUPYTER_IMAGE_SPEC"
    if advertised:
        return advertised, f"the cluster's {DEFAULTS_NAMESPACE}/{DEFAULTS_NAME} ConfigMap"
    return None, "none"


def image_finding(image: str | None, source: str) -> Check:
    if image:
        return Check("image.default", "Image", "default image", "ok", f"{image} (from {source})")
    return Check(
        "image.default",
        "Image",
        "default image",
        "fail",
        "none: neither the default profile, the server's configuration nor the cluster names "
        "one, so a submit without --image is refused",
        NO_IMAGE_HINT,
    )


# -- the probe pod -----------------------------------------------------------------------------


def probe_pod(
    name: str,
    namespace: str,
    image: str,
    *,
    owner_label: str,
    nonce: str,
    port: int = KERNEL_PORT,
    linger: float = PROBE_TIMEOUT,
    profile: Profile | None = None,
) -> Obj:
    """A short restricted pod that reports its Python and listens on `port` for a while."""
    probe = container(
        PROBE_CONTAINER,
        image,
        ["python3", "-c", PROBE_SCRIPT, nonce, str(port), str(int(linger))],
        env=[
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        ports=[{"name": "probe", "containerPort": port, "protocol": "TCP"}],
        resources={
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    spec = pod_spec(
        [probe],
        securityContext=restricted_pod_security(),
        enableServiceLinks=False,
        terminationGracePeriodSeconds=1,
        # It ends itself should nobody delete it (the doctor killed mid-way).
        activeDeadlineSeconds=int(linger) + 60,
    )
    if profile is not None:  # where the default profile's pods would go
        if profile.node_selector:
            spec["nodeSelector"] = dict(profile.node_selector)
        if profile.tolerations:
            spec["tolerations"] = [t.to_k8s() for t in profile.tolerations]
        if profile.runtime_class_name:
            spec["runtimeClassName"] = profile.runtime_class_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **MANAGED_BY,
                LABEL_COMPONENT: PROBE_COMPONENT,
                "jupyter-k8s.io/owner": owner_label,
            },
        },
        "spec": spec,
    }


def _container_state(pod: Obj) -> tuple[str | None, Obj]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status = next((s for s in statuses if s.get("name") == PROBE_CONTAINER), None) or {}
    for kind, details in (status.get("state") or {}).items():
        return kind, details or {}
    return None, {}


@dataclass(frozen=True)
class ProbeState:
    phase: str  # pending | running | ended | failed
    reason: str | None = None
    message: str | None = None
    ip: str | None = None

    def text(self) -> str:
        return ": ".join(p for p in (self.phase, self.reason, self.message) if p)


def probe_state(pod: Obj, events: list[Obj] | None = None) -> ProbeState:
    """What the probe pod does, in Kubernetes' words (Unschedulable, ImagePullBackOff, ...)."""
    from .jobs.status import FAIL_FAST, PROBLEM_WAITING

    status = pod.get("status") or {}
    ip = status.get("podIP")
    name = (pod.get("metadata") or {}).get("name", "")
    about = events_about(events or [], "Pod", name)
    kind, details = _container_state(pod)
    if status.get("phase") in ("Succeeded", "Failed") or kind == "terminated":
        if kind == "terminated":
            reason = details.get("reason") or f"exit code {details.get('exitCode')}"
            return ProbeState("ended", reason, (details.get("message") or "").strip() or None, ip)
        return ProbeState(
            "ended", status.get("reason") or status.get("phase"), status.get("message"), ip
        )
    if kind == "running":
        return ProbeState("running", None, None, ip)
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        message = scheduled.get("message")
        if not message:
            failed = [e for e in about if e.get("reason") == "FailedScheduling"]
            message = event_message(failed[-1]) if failed else None
        return ProbeState("pending", scheduled.get("reason") or "Unschedulable", message, ip)
    if kind == "waiting" and details.get("reason") in FAIL_FAST:
        return ProbeState("failed", details["reason"], details.get("message"), ip)
    if kind == "waiting" and details.get("reason") in PROBLEM_WAITING:
        return ProbeState("pending", details["reason"], details.get("message"), ip)
    latest = about[-1] if about else None
    if latest is not None and latest.get("reason") in ("Pulling", "FailedMount", "Failed"):
        return ProbeState("pending", latest["reason"], event_message(latest), ip)
    if kind == "waiting" and details.get("reason"):
        return ProbeState("pending", details["reason"], details.get("message"), ip)
    if not (pod.get("spec") or {}).get("nodeName"):
        return ProbeState("pending", "Scheduling", "waiting for the scheduler", ip)
    return ProbeState("pending", "ContainerCreating", None, ip)


def parse_probe_log(text: str) -> Obj | None:
    """The probe's report line, or None when it printed none."""
    for line in reversed(text.splitlines()):
        marker, _, rest = line.partition(" ")
        if marker == PROBE_MARKER:
            with contextlib.suppress(ValueError):
                data = json.loads(rest)
                if isinstance(data, dict):
                    return data
    return None


def _version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


@dataclass
class ProbeResult:
    """What happened to the probe pod; turned into checks by `probe_findings`."""

    image: str
    pod: str | None = None
    create_error: str | None = None
    state: ProbeState | None = None  # the last one seen
    timed_out: bool = False
    info: Obj | None = None  # the pod's report line
    log_tail: str | None = None
    connect: str | None = None  # "ok" or the error of connecting to the pod
    address: str | None = None


def probe_findings(result: ProbeResult, timeout: float = PROBE_TIMEOUT) -> list[Check]:
    sec = "Probe pod"
    image = result.image
    ids = ("probe.python", "probe.papermill", "probe.ipykernel", "probe.kernel-port")
    names = ("python3", "papermill", "ipykernel", "kernel port")
    image_fix = (
        f"use an image with python3 (>= {'.'.join(map(str, MIN_PYTHON))}), papermill and "
        "ipykernel: set c.JupyterK8s.default_image or the profile's image"
    )

    def all_fail(detail: str, fix: str | None, status: Status = "fail") -> list[Check]:
        return [Check(ids[0], sec, f"probe pod ({image})", status, detail, fix)]

    if result.create_error is not None:
        return all_fail(
            f"cannot create the probe pod: {result.create_error}",
            "see the Permissions and ResourceQuota lines above; Pod Security admission names "
            "the field it refuses",
        )
    info = result.info
    state = result.state
    if info is None:
        if state is not None and state.phase in ("failed", "pending"):
            what = "did not start" + (f" in {timeout:.0f} s" if result.timed_out else "")
            detail = f"{result.pod} {what}: {state.reason or 'Pending'}"
            if state.message:
                detail += f": {state.message}"
            if state.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                fix = (
                    f"check that the image {image} exists and that the nodes may pull it "
                    "(an imagePullSecret on the namespace's default ServiceAccount for a "
                    "private registry)"
                )
            elif state.reason == "Unschedulable":
                fix = (
                    "no node fits the pod (its message says why): free or add nodes, or fix "
                    "the default profile's node_selector / tolerations"
                )
            else:
                fix = f"kubectl -n NAMESPACE describe pod {result.pod} shows more"
            return all_fail(detail, fix)
        if state is not None and state.phase == "running":
            detail = f"{result.pod} runs but printed no report in {timeout:.0f} s"
            if result.log_tail:
                detail += f"; its log ends: {result.log_tail}"
            return all_fail(
                detail,
                "importing papermill and ipykernel took too long: the node may be short of "
                "CPU; try again with a longer --timeout",
            )
        detail = f"{result.pod} printed no report"
        if state is not None:
            detail += f" ({state.text()})"
        if result.log_tail:
            detail += f"; its log ends: {result.log_tail}"
        return all_fail(detail + ": is python3 in the image?", image_fix)

    checks: list[Check] = []
    python = str(info.get("python") or "?")
    if _version_tuple(python) >= MIN_PYTHON and info.get("python_command", "") is None:
        checks.append(
            Check(
                ids[0],
                sec,
                names[0],
                "fail",
                f"Python {python} in {image}, but no `python` command on the PATH: the job "
                "runner is started as `python runner.py`",
                "make `python` run python3 in the image (Debian/Ubuntu: apt-get install "
                "python-is-python3), or use an image that has it",
            )
        )
    elif _version_tuple(python) >= MIN_PYTHON:
        checks.append(Check(ids[0], sec, names[0], "ok", f"Python {python} in {image}"))
    else:
        checks.append(
            Check(
                ids[0], sec, names[0], "fail", f"Python {python} in {image} is too old", image_fix
            )
        )
    for cid, name, needed_for in (
        (ids[1], "papermill", "notebook jobs"),
        (ids[2], "ipykernel", "notebook jobs and remote kernels"),
    ):
        version = info.get(name)
        if version:
            checks.append(Check(cid, sec, name, "ok", f"{version}"))
        else:
            error = info.get(f"{name}_error") or "not importable"
            checks.append(
                Check(
                    cid,
                    sec,
                    name,
                    "fail",
                    f"missing in {image} ({error}); {needed_for} need it",
                    f"pip install {name} in the image, or use one that has it "
                    "(e.g. quay.io/jupyter/minimal-notebook)",
                )
            )
    port_name = names[3]
    if info.get("listen_error"):
        checks.append(
            Check(
                ids[3],
                sec,
                port_name,
                "warn",
                f"the probe could not listen: {info['listen_error']}",
            )
        )
    elif result.connect == "ok":
        checks.append(
            Check(ids[3], sec, port_name, "ok", f"this server reaches the pod at {result.address}")
        )
    else:
        checks.append(
            Check(
                ids[3],
                sec,
                port_name,
                "fail",
                f"this server cannot reach the pod at {result.address or '?'}: "
                f"{result.connect or 'not tried'}; remote kernels need it (notebook jobs don't)",
                "remote kernels need TCP from the Jupyter server to pod IPs on ports "
                f"{_KERNEL_PORTS}: run the server in the cluster (or on a network that routes "
                "pod IPs), and let a NetworkPolicy allow that ingress",
            )
        )
    return checks


# -- GPUs --------------------------------------------------------------------------------------


def gpu_findings(nodes: list[Obj] | BaseException, profiles: Iterable[Profile] = ()) -> list[Check]:
    sec = "GPUs"
    if isinstance(nodes, Forbidden):
        return [
            Check(
                "gpus.nodes",
                sec,
                "GPUs",
                "skip",
                "unknown: listing nodes is not allowed (optional)",
            )
        ]
    if isinstance(nodes, BaseException):
        return [Check("gpus.nodes", sec, "GPUs", "warn", f"cannot list nodes: {nodes}")]
    totals = node_gpus(nodes)
    wanted = sorted({p.gpu_resource for p in profiles if p.gpus})
    missing = [r for r in wanted if not totals.get(r)]
    checks = []
    if totals:
        for res, count in sorted(totals.items()):
            with_it = sum(1 for n in nodes if node_gpus([n]).get(res))
            checks.append(
                Check(
                    f"gpus.{res}",
                    sec,
                    res,
                    "ok",
                    f"{count} allocatable on {with_it} of {len(nodes)} node"
                    f"{'s' if len(nodes) != 1 else ''}",
                )
            )
    elif not missing:
        checks.append(Check("gpus.nodes", sec, "GPUs", "ok", "no node advertises GPUs"))
    for res in missing:
        users = ", ".join(repr(p.name) for p in profiles if p.gpus and p.gpu_resource == res)
        checks.append(
            Check(
                f"gpus.{res}",
                sec,
                res,
                "warn",
                f"no node advertises it, yet profile {users} asks for it: such jobs and kernels "
                f"wait (Insufficient {res})",
                "install the GPU vendor's device plugin on the GPU nodes, or change the profile",
            )
        )
    return checks


# -- running the checks ------------------------------------------------------------------------


async def _ssar(client: KubeClient, perm: Permission, namespace: str | None, gate) -> Obj:
    async with gate:
        return await client.request(
            "POST",
            resource_path("selfsubjectaccessreviews"),
            body=perm.review(namespace),
            timeout=15,
        )


async def _identity(client: KubeClient) -> str | None:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        review = await client.request(
            "POST", resource_path("selfsubjectreviews"), body=body, timeout=10
        )
    except KubeError:
        return None
    return (((review or {}).get("status") or {}).get("userInfo") or {}).get("username")


async def _permissions(
    client: KubeClient, namespace: str, identity: str | None, gate
) -> list[Check]:
    perms = required_permissions()
    answers = await asyncio.gather(
        *(_ssar(client, p, namespace, gate) for p in perms), return_exceptions=True
    )
    checks = permission_findings(perms, dict(zip(perms, answers, strict=True)), namespace, identity)
    nodes_answer: Obj | BaseException
    try:
        nodes_answer = await _ssar(client, NODES, None, gate)
    except KubeError as exc:
        nodes_answer = exc
    checks.append(nodes_finding(nodes_answer, identity, namespace))
    checks.append(await _kueue(client, namespace, identity, gate))
    return checks


async def _kueue(client: KubeClient, namespace: str, identity: str | None, gate) -> Check:
    try:
        await client.request("GET", f"/apis/{KUEUE_GROUP}", timeout=10)
    except NotFound:
        return kueue_finding(False, None, namespace, identity)
    except KubeError as exc:
        return kueue_finding(None, None, namespace, identity, str(exc))
    answers: dict[str, Obj | BaseException] = {}
    for verb in WORKLOAD_VERBS:
        try:
            answers[verb] = await _ssar(
                client, Permission(verb, KUEUE_GROUP, "workloads"), namespace, gate
            )
        except KubeError as exc:
            answers[verb] = exc
    return kueue_finding(True, answers, namespace, identity)


async def _namespace(client: KubeClient, namespace: str, profile: Profile | None) -> list[Check]:
    async def read_ns() -> Obj | BaseException:
        try:
            return await client.get("namespaces", namespace)
        except KubeError as exc:
            return exc

    async def read_quotas() -> list[Obj] | BaseException:
        try:
            return (await client.list("resourcequotas", namespace)).get("items") or []
        except KubeError as exc:
            return exc

    ns_obj, quotas = await asyncio.gather(read_ns(), read_quotas())
    return [pod_security_finding(namespace, ns_obj), *quota_findings(namespace, quotas, profile)]


async def _gpus(client: KubeClient, profiles: Iterable[Profile]) -> list[Check]:
    nodes: list[Obj] | BaseException
    try:
        nodes = (await client.list("nodes", limit=500)).get("items") or []
    except KubeError as exc:
        nodes = exc
    return gpu_findings(nodes, list(profiles))


async def _connect(ip: str, port: int, nonce: str, timeout: float = 5.0) -> str:
    """'ok' when the probe at ip:port answers its nonce, else why not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 3)
            try:
                line = await asyncio.wait_for(reader.readline(), 3)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            if line.decode(errors="replace").strip() == f"{PROBE_MARKER} {nonce}":
                return "ok"
            last = f"something else answered there ({line[:60]!r})"
            return last
        except TimeoutError:
            last = "timed out"
        except ConnectionRefusedError:
            last = "connection refused"
        except OSError as exc:
            last = str(exc) or type(exc).__name__
        if loop.time() > deadline:
            return last
        await asyncio.sleep(0.3)


async def _run_probe(
    client: KubeClient,
    namespace: str,
    image: str,
    settings: DoctorSettings,
    profile: Profile | None,
    progress: Progress,
) -> ProbeResult:
    from .names import owner_label

    name = f"jupyter-k8s-doctor-{secrets.token_hex(3)}"
    nonce = secrets.token_hex(8)
    result = ProbeResult(image=image, pod=name)
    pod = probe_pod(
        name,
        namespace,
        image,
        owner_label=owner_label(settings.owner),
        nonce=nonce,
        port=settings.kernel_port,
        linger=settings.probe_timeout,
        profile=profile,
    )
    try:
        await client.create("pods", pod, namespace)
    except KubeError as exc:
        result.create_error = str(exc)
        return result
    progress(f"probe pod {name}: created (image {image})")
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + settings.probe_timeout
        shown = None
        while True:
            try:
                live = await client.get("pods", name, namespace)
            except KubeError as exc:
                result.state = ProbeState("failed", "Error", f"cannot read the pod: {exc}")
                return result
            state = probe_state(live)
            result.state = state
            if state.text() != shown:
                shown = state.text()
                progress(f"probe pod {name}: {shown}")
            if state.phase in ("running", "ended"):
                text = await _probe_log(client, name, namespace)
                result.info = parse_probe_log(text)
                if result.info is not None or state.phase == "ended":
                    tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
                    result.log_tail = " | ".join(tail)[:500] or None
                    break
            if state.phase == "failed":
                break
            if loop.time() > deadline:
                result.timed_out = True
                with contextlib.suppress(KubeError):
                    events = (
                        await client.list(
                            "events", namespace, fieldSelector=f"involvedObject.name={name}"
                        )
                    ).get("items") or []
                    result.state = probe_state(live, events)
                break
            await asyncio.sleep(0.3)
        info = result.info
        if info is not None and info.get("listening"):
            ip = result.state.ip if result.state else None
            if ip:
                result.address = f"{ip}:{settings.kernel_port}"
                progress(f"probe pod {name}: connecting to {result.address}")
                result.connect = await _connect(ip, settings.kernel_port, nonce)
            else:
                result.connect = "the pod has no IP"
        return result
    finally:
        with contextlib.suppress(Exception):
            await client.delete("pods", name, namespace, grace_period=0, missing_ok=True)
        progress(f"probe pod {name}: deleted")


async def _probe_log(client: KubeClient, name: str, namespace: str) -> str:
    try:
        return await client.request(
            "GET",
            resource_path("pods", namespace, name, "log"),
            params={"container": PROBE_CONTAINER},
            raw=True,
            timeout=10,
        )
    except KubeError:
        return ""


async def _image_and_probe(
    client: KubeClient,
    namespace: str,
    settings: DoctorSettings,
    profile: Profile | None,
    probes: bool,
    progress: Progress,
) -> list[Check]:
    from .profiles import default_image as env_default_image

    env_image = env_default_image()
    advertised = None
    if not ((profile and profile.image) or settings.default_image or env_image):
        advertised = await read_advertised_image(client)
    image, source = resolve_image(profile, settings.default_image, env_image, advertised)
    checks = [image_finding(image, source)]
    if not probes:
        checks.append(
            Check("probe", "Probe pod", "probe pod", "skip", "not run (--no-probes / probes=0)")
        )
        return checks
    if not image:
        checks.append(Check("probe", "Probe pod", "probe pod", "skip", "not run: no image"))
        return checks
    result = await _run_probe(client, namespace, image, settings, profile, progress)
    return checks + probe_findings(result, settings.probe_timeout)


def _quiet(_message: str) -> None:
    return None


async def run_doctor(
    settings: DoctorSettings,
    *,
    get_client: Callable[[], Awaitable[KubeClient]] | None = None,
    probes: bool = True,
    progress: Progress | None = None,
) -> DoctorReport:
    """Run every check. `get_client`: the client to check (default: one made from
    `settings`, closed at the end). Never raises for cluster trouble: it is a finding."""
    from .profiles import ProfileError, load_profiles

    progress = progress or _quiet
    report = DoctorReport()
    checks = report.checks
    started = time.monotonic()
    own = get_client is None
    client: KubeClient | None = None
    try:
        try:
            if get_client is None:
                client = await KubeClient.from_kubeconfig(
                    settings.kubeconfig, settings.context, settings.namespace
                )
            else:
                client = await get_client()
        except Exception as exc:  # noqa: BLE001 - a broken kubeconfig raises anything
            checks.append(
                Check(
                    "config.load",
                    "Configuration",
                    "kubeconfig",
                    "fail",
                    str(exc),
                    "set KUBECONFIG (or c.JupyterK8s.kubeconfig / --kubeconfig) to a kubeconfig "
                    "of the cluster, or run the server in a pod of it",
                )
            )
            return report
        cfg = client.config
        namespace = settings.namespace or cfg.namespace
        report.server, report.context, report.namespace = cfg.host, cfg.context, namespace
        default_path, default_exists, context_ns = await asyncio.to_thread(
            _local_facts, cfg.source, cfg.context
        )
        checks += config_findings(
            settings,
            source=cfg.source,
            context=cfg.context,
            namespace=namespace,
            context_namespace=context_ns,
            env_kubeconfig=os.environ.get("KUBECONFIG"),
            default_path=default_path,
            default_exists=default_exists,
        )
        profile = None
        profile_list: list[Profile] = []
        try:
            profile_set = load_profiles(settings.profiles, None)
            profile, profile_list = profile_set.default, list(profile_set)
        except ProfileError as exc:
            checks.append(
                Check(
                    "config.profiles",
                    "Configuration",
                    "profiles",
                    "fail",
                    f"invalid c.JupyterK8s.profiles: {exc}",
                    "fix the profile in jupyter_server_config.py (docs/operators.md#profiles)",
                )
            )

        where = f"context {cfg.context!r} of {cfg.source}" if cfg.context else cfg.source
        version: Obj | None = None
        error: KubeError | None = None
        try:
            version = await client.request("GET", "/version", timeout=10)
        except KubeError as exc:
            error = exc
        reachable = error is None or error.status not in (0, 401)
        identity = await _identity(client) if reachable else None
        checks.append(api_findings(cfg.host, version, error, identity, where))
        if not reachable:
            checks.append(
                Check(
                    "skipped",
                    "Cluster",
                    "other checks",
                    "skip",
                    "not run: the API server must answer first",
                )
            )
            return report

        gate = asyncio.Semaphore(16)
        sections = await asyncio.gather(
            _permissions(client, namespace, identity, gate),
            _namespace(client, namespace, profile),
            _image_and_probe(client, namespace, settings, profile, probes, progress),
            _gpus(client, profile_list),
        )
        for found in sections:
            checks += found
        return report
    finally:
        if own and client is not None:
            await client.close()
        progress(f"doctor: done in {time.monotonic() - started:.1f} s")


__all__ = [
    "Check",
    "DoctorReport",
    "DoctorSettings",
    "Permission",
    "exit_code",
    "format_report",
    "required_permissions",
    "run_doctor",
    "settings_from_app",
]
