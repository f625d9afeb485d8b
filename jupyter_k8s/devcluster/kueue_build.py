"""Find or build the Kueue manager of the local cluster, and keep the manifests it needs.

Kueue's module (sigs.k8s.io/kueue) has no `replace` lines, so a plain `go install ...@version`
builds its manager. The binary goes into a cache next to the control plane's, keyed by version;
the CRDs and webhook manifests of that same version are copied beside it, so a later `up`
needs neither Go nor the module cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from .build import BuildError, cache_root

KUEUE_VERSION = "v0.17.0"
KUEUE_MODULE = "sigs.k8s.io/kueue"

# What is copied out of the module, relative to its root.
CRD_DIR = "config/components/crd/bases"
WEBHOOK_MANIFESTS = "config/components/webhook/manifests.yaml"


def kueue_cache_dir(version: str = KUEUE_VERSION) -> Path:
    return cache_root().parent / f"kueue-{version}"


def kueue_binary(version: str = KUEUE_VERSION) -> Path:
    return kueue_cache_dir(version) / "bin" / "kueue"


def kueue_manifests(version: str = KUEUE_VERSION) -> Path:
    """Kueue's CRDs and webhook configurations of `version`, as one JSON file."""
    return kueue_cache_dir(version) / "manifests.json"


def load_manifests(version: str = KUEUE_VERSION) -> dict[str, list[dict]]:
    """{"crds": [...], "webhooks": [...]} as upstream ships them (see `kueue_manifests`)."""
    return json.loads(kueue_manifests(version).read_text())


def find_kueue(version: str = KUEUE_VERSION) -> Path | None:
    """The cached binary of `version` with its manifests, or None if any part is missing."""
    binary = kueue_binary(version)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return None
    if not kueue_manifests(version).is_file():
        return None
    return binary


def _ldflags(version: str) -> str:
    # The visibility server derives its API version from GitVersion; without it the binary
    # calls itself v0.0.0-main.
    return f"-s -w -X {KUEUE_MODULE}/pkg/version.GitVersion={version}"


def _go_env(gobin: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOBIN=str(gobin))
    env.setdefault("GOTOOLCHAIN", "local")
    # `go install pkg@version` ignores any enclosing module; a -mod flag would be refused.
    env.pop("GOFLAGS", None)
    return env


def _load_yaml_all(path: Path) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]


def _load_yaml(path: Path) -> dict:
    docs = _load_yaml_all(path)
    if len(docs) != 1:
        raise BuildError(f"{path}: expected one document, found {len(docs)}")
    return docs[0]


def _run(cmd: list[str], log, env: dict[str, str], cwd: Path) -> str:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    log.write(proc.stdout)
    log.flush()
    if proc.returncode != 0:
        raise BuildError(
            f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}); see {log.name}"
        )
    return proc.stdout


def build_kueue(version: str = KUEUE_VERSION, progress: Callable[[str], None] = print) -> Path:
    """`go install` the manager into the cache and copy its manifests; returns the binary."""
    if shutil.which("go") is None:
        raise BuildError(
            "Go is needed to build Kueue for the local cluster the first time "
            f"(`go install {KUEUE_MODULE}/cmd/kueue@{version}`); install Go and run "
            "`jupyter k8s dev-cluster build --kueue`."
        )
    root = kueue_cache_dir(version)
    partial = root / "partial"
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "bin").mkdir(parents=True)
    log_path = root / "build.log"
    started = time.monotonic()
    env = _go_env(partial / "bin")
    with open(log_path, "a") as log:
        progress(f"[1/3] downloading {KUEUE_MODULE} {version} (log: {log_path})")
        info = json.loads(
            _run(["go", "mod", "download", "-json", f"{KUEUE_MODULE}@{version}"], log, env, root)
        )
        module_dir = Path(info["Dir"])
        progress(
            f"[2/3] building kueue {version} ({int(time.monotonic() - started)} s elapsed; "
            "about 3 minutes on 2 cores the first time)"
        )
        _run(
            [
                "go",
                "install",
                "-trimpath",
                f"-ldflags={_ldflags(version)}",
                f"{KUEUE_MODULE}/cmd/kueue@{version}",
            ],
            log,
            env,
            root,
        )
    progress("[3/3] keeping Kueue's CRDs and webhook manifests beside it")
    # As JSON: the workloads CRD alone is 1.4 MB of YAML, slow to parse at every `up`.
    manifests = {
        "crds": [_load_yaml(p) for p in sorted((module_dir / CRD_DIR).glob("*.yaml"))],
        "webhooks": _load_yaml_all(module_dir / WEBHOOK_MANIFESTS),
    }
    (partial / "manifests.json").write_text(json.dumps(manifests, separators=(",", ":")))
    shutil.rmtree(root / "bin", ignore_errors=True)
    (partial / "bin").rename(root / "bin")
    # Last: its presence marks a complete build (find_kueue).
    (partial / "manifests.json").replace(kueue_manifests(version))
    shutil.rmtree(partial, ignore_errors=True)
    elapsed = time.monotonic() - started
    (root / "build.json").write_text(
        json.dumps({"seconds": round(elapsed, 1), "cpus": os.cpu_count(), "at": time.time()})
    )
    progress(f"kueue {version} built in {int(elapsed)} s into {root / 'bin'}")
    return kueue_binary(version)


def ensure_kueue(
    version: str = KUEUE_VERSION,
    allow_build: bool = True,
    progress: Callable[[str], None] = print,
) -> Path:
    """The cached Kueue manager of `version`, built first if it isn't there."""
    found = find_kueue(version)
    if found:
        return found
    if not allow_build:
        raise BuildError(
            f"Kueue {version} is not built yet; run `jupyter k8s dev-cluster build --kueue` "
            "(about 3 minutes the first time)."
        )
    progress(f"Building Kueue {version} once into {kueue_cache_dir(version)}.")
    return build_kueue(version, progress)
