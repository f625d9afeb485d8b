"""Defaults a cluster advertises to every jupyter-k8s client: today, the default image.

Where a job or kernel needs an image and neither the request, the profile nor the server's
configuration (`c.JupyterK8s.default_image`, or JupyterHub's JUPYTER_IMAGE_SPEC) names one,
the cluster may: a ConfigMap `kube-public/jupyter-k8s-defaults` with the key `image`, readable
by every authenticated identity through a Role that names that one ConfigMap. It is the
pattern kubeadm uses for `kube-public/cluster-info`: public facts about the cluster, in one
place, which no namespace-scoped identity needs a ClusterRole to read.

The local cluster (`jupyter k8s dev-cluster up`) creates it, so every path (toolbar, CLI,
magic, kernels, `papermill -k`) works with no option set; an operator of a real cluster may
create it too (docs/operators.md). What is read back is untrusted: a value that is not a
plausible image reference is ignored (and logged), never used.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .client import KubeClient, KubeError

DEFAULTS_NAMESPACE = "kube-public"
DEFAULTS_NAME = "jupyter-k8s-defaults"
IMAGE_KEY = "image"
# How long an answer (also "none advertised") is reused: a submit must not pay an API call.
CACHE_SECONDS = 60.0

# A container image reference as Kubernetes takes it: no whitespace or control characters,
# bounded; the registry's own grammar is checked where the image is pulled.
_IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,510}$")

log = logging.getLogger(__name__)

NO_IMAGE_HINT = (
    'add `c.JupyterK8s.default_image = "<image>"` to jupyter_server_config.py, with an image '
    "that has Python >= 3.8, papermill and ipykernel (docs/operators.md#images)"
)


def plausible_image(value: Any) -> str | None:
    """`value` when it looks like an image reference, else None."""
    if isinstance(value, str) and _IMAGE_RE.match(value.strip()):
        return value.strip()
    return None


def defaults_objects(image: str) -> list[dict[str, Any]]:
    """The ConfigMap that advertises `image`, and the Role/RoleBinding that let any
    authenticated identity read that one ConfigMap (and nothing else in kube-public)."""
    meta = {"namespace": DEFAULTS_NAMESPACE, "labels": {"app.kubernetes.io/name": "jupyter-k8s"}}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": DEFAULTS_NAME, **meta},
            "data": {IMAGE_KEY: image},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": DEFAULTS_NAME, **meta},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [DEFAULTS_NAME],
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": DEFAULTS_NAME, **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": DEFAULTS_NAME,
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": "system:authenticated",
                }
            ],
        },
    ]


class ClusterDefaults:
    """The default image: the configured one, else what the cluster advertises (read and
    cached); never raises: no answer is None."""

    def __init__(self, configured: str | None = None, cache_seconds: float = CACHE_SECONDS):
        self.configured = configured
        self._cache_seconds = cache_seconds
        self._image: str | None = None
        self._read_at: float | None = None

    async def image(self, get_client: Callable[[], Awaitable[KubeClient]]) -> str | None:
        if self.configured:
            return self.configured
        client = await get_client()
        now = time.monotonic()
        if self._read_at is not None and now - self._read_at < self._cache_seconds:
            return self._image
        self._image = await read_advertised_image(client)
        self._read_at = now
        return self._image


async def read_advertised_image(client: KubeClient) -> str | None:
    """The advertised default image, or None (no ConfigMap, not readable, or implausible)."""
    try:
        cm = await client.get("configmaps", DEFAULTS_NAME, DEFAULTS_NAMESPACE)
    except KubeError as exc:  # NotFound, Forbidden, unreachable: none advertised
        log.debug("no cluster default image (%s)", exc)
        return None
    raw = (cm.get("data") or {}).get(IMAGE_KEY)
    image = plausible_image(raw)
    if raw is not None and image is None:
        log.warning(
            "ignoring %s/%s: its %r is not an image reference",
            DEFAULTS_NAMESPACE,
            DEFAULTS_NAME,
            IMAGE_KEY,
        )
    return image


__all__ = [
    "DEFAULTS_NAME",
    "DEFAULTS_NAMESPACE",
    "NO_IMAGE_HINT",
    "ClusterDefaults",
    "defaults_objects",
    "plausible_image",
    "read_advertised_image",
]
