"""Permissions: every verb of the shipped Role, asked with a SelfSubjectAccessReview, plus the
optional ones (list nodes for GPU totals; Kueue's are in doctor/kueue.py).

The Role's CronJob verbs (schedules) are asked too, but a denial is a warning, not a failure
(`OPTIONAL`): schedules are one feature among many, and a Role applied before they existed
still runs every job and kernel; the warning names what is missing and the rule to add.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..k8s.client import Obj
from .checks import Check

RBAC_PATH = Path(__file__).parent.parent / "manifests" / "rbac.yaml"
#: Targets of the shipped Role whose denial only costs one feature: what it costs.
OPTIONAL = {"batch/cronjobs": "schedules cannot be made or managed (jobs and kernels work)"}


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


def rules_permissions(text: str, kind: str = "Role") -> list[Permission]:
    """Every verb of the rules of the `kind` documents (Role, ClusterRole) in the YAML `text`,
    in order."""
    perms: list[Permission] = []
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict) or doc.get("kind") != kind:
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


def required_permissions(rbac_text: str | None = None) -> list[Permission]:
    """Every verb of the shipped Role's rules (jupyter_k8s/manifests/rbac.yaml), in order."""
    return rules_permissions(RBAC_PATH.read_text() if rbac_text is None else rbac_text)


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
        optional = OPTIONAL.get(target)
        name = f"{target} (optional)" if optional else target
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
            if optional:
                checks.append(Check(cid, sec, name, "warn", f"{missing}: denied: {optional}", fix))
            else:
                checks.append(Check(cid, sec, name, "fail", f"{missing}: denied", fix))
        elif unknown:
            why = _answer(answers.get(unknown[0]))[1]
            checks.append(
                Check(
                    cid,
                    sec,
                    name,
                    "warn",
                    f"could not check {', '.join(p.verb for p in unknown)}: {why}",
                    "SelfSubjectAccessReview must be allowed to every authenticated identity "
                    "(the default ClusterRole system:basic-user)",
                )
            )
        else:
            checks.append(Check(cid, sec, name, "ok", verbs))
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
