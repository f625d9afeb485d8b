"""Find or build the control-plane binaries of the local cluster.

The binaries come from the official Go modules at one pinned version. `go install` of
k8s.io/kubernetes commands is refused (its go.mod replaces the staging modules with local
paths), so we generate a tiny module of our own that requires k8s.io/kubernetes and pins
every staging module with a `replace` line, then build the commands from it.

Builds are cached outside the repository, keyed by version, so only the first `up` on a
machine pays the 15-30 minutes of a cold build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ALL_COMMANDS = (*KUBE_COMMANDS, "etcd")

# Every staging module of k8s.io/kubernetes; each needs a replace line at the matching v0 tag.
STAGING_MODULES = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "cri-streaming",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
    "streaming",
)


class BuildError(RuntimeError):
    """The control plane could not be found or built; the message says what to do."""


@dataclass(frozen=True)
class Versions:
    kubernetes: str = KUBERNETES_VERSION
    etcd: str = ETCD_VERSION

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}"

    @property
    def staging(self) -> str:
        # k8s.io/kubernetes v1.X.Y pairs with the staging modules v0.X.Y
        return "v0." + self.kubernetes.removeprefix("v").split(".", 1)[1]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jupyter-k8s" / "control-plane"


def cache_dir(versions: Versions) -> Path:
    return cache_root() / versions.key


def kube_go_mod(versions: Versions, commands: tuple[str, ...] = KUBE_COMMANDS) -> str:
    """The build module; `commands` also names optional ones (the real node's kubelet)."""
    replaces = "\n".join(
        f"\tk8s.io/{name} => k8s.io/{name} {versions.staging}" for name in STAGING_MODULES
    )
    tools = "\n".join(f"\tk8s.io/kubernetes/cmd/{cmd}" for cmd in commands)
    return (
        "module jupyterk8s.local/kube\n\n"
        "go 1.26\n\n"
        f"require k8s.io/kubernetes {versions.kubernetes}\n\n"
        f"replace (\n{replaces}\n)\n\n"
        f"tool (\n{tools}\n)\n"
    )


def etcd_go_mod(versions: Versions) -> str:
    return (
        "module jupyterk8s.local/etcd\n\n"
        "go 1.26\n\n"
        f"require go.etcd.io/etcd/server/v3 {versions.etcd}\n\n"
        "tool go.etcd.io/etcd/server/v3\n"
    )


def kube_ldflags(versions: Versions) -> str:
    major, minor, _ = versions.kubernetes.removeprefix("v").split(".")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={versions.kubernetes}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def binary_version(path: Path) -> str | None:
    """The version a control-plane binary reports, or None if it can't run."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip()
    # "Kubernetes v1.37.2" / "etcd Version: 3.6.16\n..."
    for line in text.splitlines():
        if line.startswith("Kubernetes "):
            return line.split()[1]
        if line.startswith("etcd Version:"):
            return "v" + line.split(":", 1)[1].strip()
    return None


def _wanted_version(command: str, versions: Versions) -> str:
    return versions.etcd if command == "etcd" else versions.kubernetes


def find_binaries(
    versions: Versions, search_dirs: Iterable[Path] = (), use_path: bool = True
) -> dict[str, Path] | None:
    """Binaries of the wanted versions, from given dirs, the cache, or PATH; None if any lacks."""
    dirs = [*search_dirs, cache_dir(versions) / "bin"]
    found: dict[str, Path] = {}
    for cmd in ALL_COMMANDS:
        candidates = [d / cmd for d in dirs]
        if use_path and (on_path := shutil.which(cmd)):
            candidates.append(Path(on_path))
        for cand in candidates:
            if not (cand.is_file() and os.access(cand, os.X_OK)):
                continue
            # Cached binaries were built by us at this version: skip the slow --version probe.
            if cand.parent == cache_dir(versions) / "bin" or binary_version(cand) == (
                _wanted_version(cmd, versions)
            ):
                found[cmd] = cand
                break
        else:
            return None
    return found


def _go_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOFLAGS="-buildvcs=false -mod=mod")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def _run(cmd: list[str], cwd: Path, log, env: dict[str, str]) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        raise BuildError(
            f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}); see {log.name}"
        )


def build(versions: Versions, progress: Callable[[str], None] = print) -> dict[str, Path]:
    """Build every control-plane binary into the cache; returns their paths."""
    if shutil.which("go") is None:
        raise BuildError(
            "Go is needed to build the local control plane the first time "
            "(or pass --bin-dir with kube-apiserver, kube-controller-manager, "
            "kube-scheduler and etcd of the pinned versions)."
        )
    root = cache_dir(versions)
    src = root / "src"
    bindir = root / "bin"
    tmpbin = root / "bin.partial"
    for d in (src / "kube", src / "etcd", tmpbin):
        d.mkdir(parents=True, exist_ok=True)
    (src / "kube" / "go.mod").write_text(kube_go_mod(versions))
    (src / "etcd" / "go.mod").write_text(etcd_go_mod(versions))
    log_path = root / "build.log"
    started = time.monotonic()
    with open(log_path, "a") as log:
        env = _go_env(root)
        steps = [
            ("resolving etcd modules", src / "etcd", ["go", "mod", "tidy"]),
            (
                f"building etcd {versions.etcd}",
                src / "etcd",
                [
                    "go",
                    "build",
                    "-trimpath",
                    "-ldflags=-s -w",
                    "-o",
                    str(tmpbin / "etcd"),
                    "go.etcd.io/etcd/server/v3",
                ],
            ),
            ("resolving Kubernetes modules", src / "kube", ["go", "mod", "tidy"]),
        ]
        for cmd in KUBE_COMMANDS:
            steps.append(
                (
                    f"building {cmd} {versions.kubernetes}",
                    src / "kube",
                    [
                        "go",
                        "build",
                        "-trimpath",
                        f"-ldflags={kube_ldflags(versions)}",
                        "-o",
                        str(tmpbin / cmd),
                        f"k8s.io/kubernetes/cmd/{cmd}",
                    ],
                )
            )
        for n, (what, cwd, argv) in enumerate(steps, 1):
            progress(
                f"[{n}/{len(steps)}] {what} "
                f"({int(time.monotonic() - started)} s elapsed; log: {log_path})"
            )
            _run(argv, cwd, log, env)
    # File by file, so optional binaries built beside these (the kubelet) are kept.
    bindir.mkdir(exist_ok=True)
    for built in tmpbin.iterdir():
        built.replace(bindir / built.name)
    tmpbin.rmdir()
    elapsed = time.monotonic() - started
    # Kept for bench/devcluster.py, which reports the cold build time.
    (root / "build.json").write_text(
        json.dumps({"seconds": round(elapsed, 1), "cpus": os.cpu_count(), "at": time.time()})
    )
    progress(f"control plane built in {int(elapsed)} s into {bindir}")
    return {cmd: bindir / cmd for cmd in ALL_COMMANDS}


def ensure_binaries(
    versions: Versions = Versions(),
    bin_dir: Path | None = None,
    allow_build: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, Path]:
    found = find_binaries(versions, [bin_dir] if bin_dir else [])
    if found:
        return found
    if bin_dir is not None and not allow_build:
        raise BuildError(
            f"{bin_dir} lacks kube-apiserver/kube-controller-manager/kube-scheduler "
            f"{versions.kubernetes} or etcd {versions.etcd}"
        )
    if not allow_build:
        raise BuildError(
            "The control-plane binaries are not built yet; run "
            "`jupyter k8s dev-cluster build` (15-30 minutes the first time)."
        )
    progress(
        f"Building the local control plane (Kubernetes {versions.kubernetes}, etcd "
        f"{versions.etcd}) once into {cache_dir(versions)}; this takes 15-30 minutes."
    )
    return build(versions, progress)


def main(argv: list[str] | None = None) -> int:
    try:
        paths = ensure_binaries(progress=lambda m: print(m, flush=True))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
