"""Find or build the binaries of the real node: the kubelet, the CNI plugins and `pause`.

The kubelet comes from the same generated module as the control plane (build.py), at the same
pinned version, into the same cache directory, so it is built once per machine and a plain
`dev-cluster build` stays as fast as before. The CNI plugins are built from
github.com/containernetworking/plugins at a pinned version rather than taken from Debian
(1.1.1, from 2022): the build is small (about a minute), the version is the same on every
machine, and it needs nothing from apt. `pause`, the process that holds a pod's namespaces, is
a tiny program of ours (pause.go) because no registry can serve registry.k8s.io/pause.

containerd and runc come from Debian (see prereqs.py for why that is enough at 1.37).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..build import (
    BuildError,
    Versions,
    _go_env,
    _run,
    cache_dir,
    cache_root,
    kube_go_mod,
    kube_ldflags,
)

CNI_PLUGINS_VERSION = "v1.10.0"
CNI_MODULE = "github.com/containernetworking/plugins"
# package path inside the module of each plugin we use
CNI_PLUGINS = {
    "bridge": "plugins/main/bridge",
    "host-local": "plugins/ipam/host-local",
    "loopback": "plugins/main/loopback",
    "portmap": "plugins/meta/portmap",
}
PAUSE_SOURCE = Path(__file__).with_name("pause.go")
# crictl tears pods down through the CRI (network included) when `down` finds any left.
CRI_TOOLS_VERSION = "v1.37.0"
CRICTL_PACKAGE = "sigs.k8s.io/cri-tools/cmd/crictl"

Progress = Callable[[str], None]


def kubelet_path(versions: Versions) -> Path:
    return cache_dir(versions) / "bin" / "kubelet"


def cni_dir(version: str = CNI_PLUGINS_VERSION) -> Path:
    return cache_root().parent / f"cni-plugins-{version}"


def cni_bin_dir(version: str = CNI_PLUGINS_VERSION) -> Path:
    return cni_dir(version) / "bin"


def crictl_path(version: str = CRI_TOOLS_VERSION) -> Path:
    return cache_root().parent / f"cri-tools-{version}" / "bin" / "crictl"


def pause_path() -> Path:
    # Keyed by the source's content, so an edit of pause.go rebuilds it.
    import hashlib

    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes()).hexdigest()[:12]
    return cache_root().parent / "pause" / digest / "pause"


def cni_go_mod(version: str = CNI_PLUGINS_VERSION) -> str:
    tools = "\n".join(f"\t{CNI_MODULE}/{pkg}" for pkg in CNI_PLUGINS.values())
    return (
        "module jupyterk8s.local/cni\n\n"
        "go 1.26\n\n"
        f"require {CNI_MODULE} {version}\n\n"
        f"tool (\n{tools}\n)\n"
    )


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _need_go(what: str) -> None:
    import shutil

    if shutil.which("go") is None:
        raise BuildError(
            f"Go is needed to build {what} the first time "
            "(Debian: apt-get install golang-go, or Go 1.26 from go.dev)."
        )


def ensure_kubelet(versions: Versions, progress: Progress = print) -> Path:
    """The kubelet at the control plane's version, built into its cache once (5-20 min)."""
    target = kubelet_path(versions)
    if _executable(target):
        return target
    _need_go("the kubelet")
    root = cache_dir(versions)
    src = root / "src" / "kubelet"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(kube_go_mod(versions, ("kubelet",)))
    # The control plane's go.sum covers nearly all of it: tidy then only adds the rest.
    plane_sum = root / "src" / "kube" / "go.sum"
    if plane_sum.is_file() and not (src / "go.sum").exists():
        (src / "go.sum").write_bytes(plane_sum.read_bytes())
    log_path = root / "build-kubelet.log"
    partial = target.with_name("kubelet.partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    progress(
        f"building the kubelet {versions.kubernetes} once into {target} "
        f"(5-20 minutes; log: {log_path})"
    )
    with open(log_path, "a") as log:
        env = _go_env(root)
        _run(["go", "mod", "tidy"], src, log, env)
        _run(
            [
                "go",
                "build",
                "-trimpath",
                f"-ldflags={kube_ldflags(versions)}",
                "-o",
                str(partial),
                "k8s.io/kubernetes/cmd/kubelet",
            ],
            src,
            log,
            env,
        )
    partial.replace(target)
    progress(f"kubelet built in {time.monotonic() - started:.0f} s")
    return target


def ensure_cni_plugins(version: str = CNI_PLUGINS_VERSION, progress: Progress = print) -> Path:
    """The bridge, host-local, loopback and portmap plugins of `version`; their directory."""
    bindir = cni_bin_dir(version)
    if all(_executable(bindir / name) for name in CNI_PLUGINS):
        return bindir
    _need_go("the CNI plugins")
    root = cni_dir(version)
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(cni_go_mod(version))
    partial = root / "bin.partial"
    partial.mkdir(exist_ok=True)
    log_path = root / "build.log"
    started = time.monotonic()
    progress(f"building the CNI plugins {version} once into {bindir} (log: {log_path})")
    with open(log_path, "a") as log:
        env = _go_env(root)
        _run(["go", "mod", "tidy"], src, log, env)
        for name, pkg in CNI_PLUGINS.items():
            _run(
                [
                    "go",
                    "build",
                    "-trimpath",
                    "-ldflags=-s -w",
                    "-o",
                    str(partial / name),
                    f"{CNI_MODULE}/{pkg}",
                ],
                src,
                log,
                env,
            )
    bindir.mkdir(exist_ok=True)
    for built in partial.iterdir():
        built.replace(bindir / built.name)
    partial.rmdir()
    progress(f"CNI plugins built in {time.monotonic() - started:.0f} s")
    return bindir


def ensure_pause(progress: Progress = print) -> Path:
    """A static `pause` binary (seconds to build; the source is beside this file)."""
    target = pause_path()
    if _executable(target):
        return target
    _need_go("pause")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = target.parent / "src"
    src.mkdir(exist_ok=True)
    (src / "go.mod").write_text("module jupyterk8s.local/pause\n\ngo 1.26\n")
    (src / "main.go").write_bytes(PAUSE_SOURCE.read_bytes())
    env = _go_env(target.parent)
    env["GOFLAGS"] = "-buildvcs=false"
    partial = target.with_name("pause.partial")
    proc = subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"building pause failed:\n{proc.stdout}{proc.stderr}")
    partial.replace(target)
    progress(f"pause built into {target}")
    return target


def ensure_crictl(version: str = CRI_TOOLS_VERSION, progress: Progress = print) -> Path:
    """crictl of cri-tools `version` (its module has no replace lines: `go install` builds it)."""
    target = crictl_path(version)
    if _executable(target):
        return target
    _need_go("crictl")
    partial = target.parent.with_name(target.parent.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    env = _go_env(partial)
    env["GOBIN"] = str(partial)
    env.pop("GOFLAGS", None)  # `go install pkg@version` refuses -mod flags
    started = time.monotonic()
    progress(f"building crictl {version} once into {target}")
    proc = subprocess.run(
        [
            "go",
            "install",
            "-trimpath",
            f"-ldflags=-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={version}",
            f"{CRICTL_PACKAGE}@{version}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(f"building crictl failed:\n{proc.stderr[-3000:]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    (partial / "crictl").replace(target)
    partial.rmdir()
    progress(f"crictl built in {time.monotonic() - started:.0f} s")
    return target


def ensure_node_binaries(versions: Versions, progress: Progress = print) -> dict[str, Path]:
    """Everything of the real node that we build: kubelet, CNI plugins, pause, crictl."""
    return {
        "kubelet": ensure_kubelet(versions, progress),
        "cni-bin-dir": ensure_cni_plugins(progress=progress),
        "pause": ensure_pause(progress),
        "crictl": ensure_crictl(progress=progress),
    }
