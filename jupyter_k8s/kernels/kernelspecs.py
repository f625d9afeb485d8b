"""Kernelspecs of remote kernels: one per profile, named `k8s-<profile>`.

A Jupyter server with the extension serves them from memory (`K8sKernelSpecMixin`, put in
front of the server's kernel spec manager by the extension): the launcher and the kernel
picker list "Python 3 · Kubernetes · GPU" with its logo, and nothing is written into the
user's kernels directory. Operators change profiles, the specs follow at the next listing.

Clients outside a server (papermill, nbclient, jupyter_kernel_test) need a kernel.json on
disk: `jupyter k8s kernelspec install [--profile P]` writes one with the profile's settings
and the cluster settings embedded (`install_kernelspec`), since no extension is there to
resolve the profile by name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

from ..profiles import Profile, ProfileSet
from .objects import IPYKERNEL_ARGV

PROVISIONER_NAME = "k8s-pod"
PREFIX = "k8s-"
LOGO_FILES = ("logo-svg.svg", "logo-64x64.png", "logo-32x32.png")


def resource_dir() -> str:
    """The folder with the kernelspecs' logos (in the package: nothing to write)."""
    return str(resources.files("jupyter_k8s.kernels").joinpath("resources"))


def kernelspec_name(profile_name: str) -> str:
    return f"{PREFIX}{profile_name}"


def display_name(profile: Profile) -> str:
    return f"Python 3 · Kubernetes · {profile.title}"


def kernel_dict(
    profile: Profile,
    *,
    settings: Mapping[str, Any] | None = None,
    embed_profile: bool = False,
    curve: bool = True,
) -> dict[str, Any]:
    """kernel.json of the profile's remote Python kernel.

    `settings`: more provisioner config (namespace, kubeconfig, context, owner, image,
    start_timeout, orphan_seconds) for clients without the server extension;
    `embed_profile`: carry the profile's settings too (they have no server to look the name
    up in). `curve`: declare CurveZMQ support (ipykernel >= 7.4 in the image); jupyter_client
    then encrypts when the kernel manager's transport_encryption is "auto" or "required".
    """
    config: dict[str, Any] = {"profile": profile.name}
    if embed_profile:
        config["profile_spec"] = profile.model_dump(mode="json", exclude_defaults=True) | {
            "name": profile.name
        }
    for key, value in (settings or {}).items():
        if value is not None:
            config[key] = value
    metadata: dict[str, Any] = {
        "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": config},
        "jupyter_k8s": {
            "profile": profile.name,
            "gpus": profile.gpus,
            "gpu_resource": profile.gpu_resource if profile.gpus else None,
            "description": profile.description,
        },
    }
    if curve:
        metadata["supported_encryption"] = ["curve"]
    return {
        "argv": list(IPYKERNEL_ARGV),
        "display_name": display_name(profile),
        "language": "python",
        "interrupt_mode": "message",
        "env": {},
        "metadata": metadata,
    }


def server_kernelspecs(profiles: ProfileSet, curve: bool = True) -> dict[str, KernelSpec]:
    """The specs a server with the extension serves, by name."""
    return {
        kernelspec_name(p.name): KernelSpec(
            resource_dir=resource_dir(),
            name=kernelspec_name(p.name),
            **kernel_dict(p, curve=curve),
        )
        for p in profiles
    }


def is_gpu_kernel(spec: KernelSpec | None) -> bool:
    meta = (getattr(spec, "metadata", None) or {}).get("jupyter_k8s") or {}
    return bool(meta.get("gpus"))


if TYPE_CHECKING:  # what the mixin is put in front of (wrap_kernel_spec_manager)
    _SpecManagerBase = KernelSpecManager
else:  # at run time a plain mixin: the manager's own class comes after it in the MRO
    _SpecManagerBase = object


class K8sKernelSpecMixin(_SpecManagerBase):
    """Adds the per-profile specs to a KernelSpecManager (served first on a name clash)."""

    k8s_specs: Callable[[], dict[str, KernelSpec]] = staticmethod(lambda: {})

    def find_kernel_specs(self) -> dict[str, str]:
        found = dict(super().find_kernel_specs())
        for name in self.k8s_specs():
            found[name] = resource_dir()
        return found

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = self.k8s_specs().get(kernel_name.lower())
        if spec is not None:
            return spec
        return super().get_kernel_spec(kernel_name)


def wrap_kernel_spec_manager(
    ksm: KernelSpecManager, specs: Callable[[], dict[str, KernelSpec]]
) -> KernelSpecManager:
    """A manager of the same class and configuration as `ksm`, that also serves `specs`."""
    cls = type(ksm)
    if isinstance(ksm, K8sKernelSpecMixin):
        ksm.k8s_specs = staticmethod(specs)
        return ksm
    wrapped_cls = type(f"K8s{cls.__name__}", (K8sKernelSpecMixin, cls), {"__module__": __name__})
    wrapped = wrapped_cls(parent=ksm.parent, config=ksm.config, log=ksm.log)
    for name in ("kernel_dirs", "data_dir", "user_kernel_dir", "allowed_kernelspecs"):
        if ksm.has_trait(name):
            setattr(wrapped, name, getattr(ksm, name))
    wrapped.k8s_specs = staticmethod(specs)
    return wrapped


def install_kernelspec(
    profile: Profile,
    settings: Mapping[str, Any],
    *,
    user: bool = True,
    prefix: str | None = None,
    name: str | None = None,
    curve: bool = True,
) -> str:
    """Write `k8s-<profile>` (kernel.json with the profile embedded, logos) where
    jupyter_client finds kernels; returns the folder."""
    kernel_name = name or kernelspec_name(profile.name)
    spec = kernel_dict(profile, settings=settings, embed_profile=True, curve=curve)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / kernel_name
        folder.mkdir()
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1, ensure_ascii=False))
        for logo in LOGO_FILES:
            shutil.copy(os.path.join(resource_dir(), logo), folder / logo)
        ksm = KernelSpecManager()
        return ksm.install_kernel_spec(
            str(folder), kernel_name, user=user and prefix is None, prefix=prefix
        )


def install_from_config(
    conf: Any,
    profile_names: list[str] | None = None,
    *,
    user: bool = True,
    prefix: str | None = None,
    image: str | None = None,
) -> list[tuple[str, str]]:
    """Install the kernelspecs of the configured profiles (all, or those named) for clients
    without the server extension; `conf` is a JupyterK8s with the user's configuration.
    Returns [(kernelspec name, folder)]."""
    from ..profiles import default_image, load_profiles

    profiles = load_profiles(conf.profiles, conf.default_image or default_image())
    chosen = [profiles.get(n) for n in profile_names] if profile_names else list(profiles)
    settings = {
        "kubeconfig": os.path.abspath(os.path.expanduser(conf.kubeconfig))
        if conf.kubeconfig
        else None,
        "context": conf.context,
        "namespace": conf.namespace,
        "owner": conf.owner,
        "start_timeout": conf.kernel_start_timeout,
        "orphan_seconds": conf.kernel_orphan_seconds,
        "image": image,
    }
    return [
        (
            kernelspec_name(p.name),
            install_kernelspec(p, settings, user=user, prefix=prefix, curve=conf.kernel_curve),
        )
        for p in chosen
    ]


__all__ = [
    "K8sKernelSpecMixin",
    "NoSuchKernel",
    "install_from_config",
    "install_kernelspec",
    "kernel_dict",
    "kernelspec_name",
    "server_kernelspecs",
    "wrap_kernel_spec_manager",
]
