"""The default image, resolved in the order jobs resolve it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..k8s.cluster_defaults import DEFAULTS_NAME, DEFAULTS_NAMESPACE, NO_IMAGE_HINT
from .checks import Check

if TYPE_CHECKING:
    from ..profiles import Profile


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
