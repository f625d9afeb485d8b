"""Time from a fresh clone to the first succeeded job, as a newcomer does it.

    python bench/first_run.py          # warm: the control-plane build cached in ~/.cache
    python bench/first_run.py --cold   # cold: an empty cache, so the control plane is built

Steps, each timed: `git clone` of this repository, `scripts/setup` (a new .venv, pip install
with the JupyterLab extension build, the control plane found or built), `jupyter k8s
dev-cluster up --wait`, then the README's `jupyter k8s submit analysis.ipynb -p alpha 0.5
--wait` with no configuration. The newcomer's home, Jupyter config and cluster state are
temporary folders; the cluster is stopped at the end. (`--cold` leaves Go's module cache,
~/go/pkg/mod, as it is: the figure is the build, not the module download.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def step(name: str, argv: list[str], cwd: Path, env: dict[str, str], times: dict) -> str:
    started = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    times[name] = time.monotonic() - started
    print(f"{name:<28} {times[name]:7.1f} s", flush=True)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="build the control plane too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jk8s-first-run-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        cache = work / "cache" if args.cold else Path.home() / ".cache"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTER", "JPY_", "KUBECONFIG", "XDG_", "VIRTUAL_ENV"))
        }
        env.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(cache),
            XDG_STATE_HOME=str(work / "state"),
            # Go's own caches stay: a cold figure is the build, not the module download.
            GOPATH=os.environ.get("GOPATH") or str(Path.home() / "go"),
            GOCACHE=str(work / "gocache") if args.cold else str(Path.home() / ".cache/go-build"),
            PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"),
            YARN_CACHE_FOLDER=str(Path.home() / ".cache" / "yarn"),
        )
        env["PATH"] = ":".join(
            p for p in env.get("PATH", "").split(":") if "/.venv/" not in p and p
        )
        times: dict[str, float] = {}
        clone = work / "jupyter-k8s"
        step("git clone", ["git", "clone", "-q", str(REPO), str(clone)], work, env, times)
        step("scripts/setup", ["scripts/setup"], clone, env, times)
        venv_env = dict(env, PATH=f"{clone / '.venv' / 'bin'}:{env['PATH']}")
        cli = [str(clone / ".venv" / "bin" / "jupyter"), "k8s"]
        try:
            out = step(
                "dev-cluster up --wait",
                [*cli, "dev-cluster", "up", "--wait"],
                clone,
                venv_env,
                times,
            )
            kubeconfig = out.strip().splitlines()[-1].split("=", 1)[1]
            venv_env["KUBECONFIG"] = kubeconfig
            nb_dir = work / "notebooks"
            nb_dir.mkdir()
            (nb_dir / "analysis.ipynb").write_text(json.dumps(_notebook()))
            step(
                "first job (submit --wait)",
                [*cli, "submit", "analysis.ipynb", "-p", "alpha", "0.5", "--wait"],
                nb_dir,
                venv_env,
                times,
            )
        finally:
            subprocess.run([*cli, "dev-cluster", "down"], cwd=clone, env=venv_env, check=False)
        total = sum(times.values())
        print(
            f"{'fresh clone -> first job':<28} {total:7.1f} s ({'cold' if args.cold else 'warm'})"
        )


def _notebook() -> dict:
    cell = {"cell_type": "code", "execution_count": None, "outputs": [], "metadata": {}}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {**cell, "id": "p", "metadata": {"tags": ["parameters"]}, "source": "alpha = 0.1"},
            {**cell, "id": "a", "source": "print('alpha is', alpha)"},
        ],
    }


if __name__ == "__main__":
    main()
