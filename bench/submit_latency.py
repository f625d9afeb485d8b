"""Submit latency of notebook jobs: POST /jupyter-k8s/jobs to 201, with a 1 MB notebook.

    python bench/submit_latency.py [--n 40] [--json results.json]

Starts a private local cluster and a real Jupyter server with the extension (as the
least-privileged ServiceAccount), submits the same ~1 MB notebook N times and reports p50/p95.
Jobs use a profile whose node selector matches no node, so pods stay Pending and the machine
stays quiet: only the submit path is measured. Baseline, in the same run: the bare Kubernetes
calls a submit makes (create the 1 MB ConfigMap, create the Job, patch the owner reference)
made directly with the same client library.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import random
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from benchlib import TOKEN, bench_server, percentile, report

from jupyter_k8s.k8s.client import KubeClient, load_config

PROFILES = [{"name": "parked", "cpu_request": "10m", "node_selector": {"bench": "nowhere"}}]


def big_notebook(size: int) -> dict:
    """About `size` bytes that compress like a real notebook: code and text cells of varied
    words (gzip ~3x) and an embedded PNG-like base64 output of random bytes (gzip ~1.3x)."""
    rng = random.Random(42)
    words = [
        "import",
        "numpy",
        "as",
        "np",
        "df",
        "=",
        "pd.read_csv",
        "model",
        "fit",
        "for",
        "in",
        "range",
        "print",
        "loss",
        "epoch",
        "return",
        "def",
        "plot",
        "ax",
        "np.mean",
        "x",
        "y",
        "train",
        "test",
        "accuracy",
        "# compute",
        "the",
        "batch",
        "size",
        "lr",
        "0.001",
    ]
    text_budget = int(size * 0.55)
    lines, used = [], 0
    while used < text_budget:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
        lines.append(line)
        used += len(line)
    image = base64.b64encode(rng.randbytes(int(size * 0.45 * 3 / 4))).decode()
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "".join(lines)},
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 1,
                "metadata": {},
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": image, "text/plain": "<Figure>"},
                    }
                ],
                "source": "plot()",
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


async def measure_submits(url: str, n: int) -> list[float]:
    headers = {"Authorization": f"token {TOKEN}"}
    times = []
    async with aiohttp.ClientSession() as session:
        for i in range(n + 3):
            started = time.perf_counter()
            async with session.post(
                f"{url}/jupyter-k8s/jobs",
                headers=headers,
                json={"notebook": "big.ipynb", "parameters": {"i": i}},
            ) as r:
                body = await r.read()
                assert r.status == 201, body[:300]
            if i >= 3:  # the first ones warm up the connection pool and watch caches
                times.append(time.perf_counter() - started)
    return times


async def measure_baseline(kubeconfig: Path, nb: bytes, n: int) -> list[float]:
    """The bare API calls of a submit, without validation, building or the HTTP layer."""
    config = await load_config(str(kubeconfig))
    times = []
    async with KubeClient(config) as client:
        ns = client.namespace
        for i in range(n + 3):
            name = f"baseline-{i}"
            cm = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name},
                "data": {"notebook.ipynb": nb.decode()},
            }
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name},
                "spec": {
                    "suspend": True,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 1000,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "python:3.11-slim",
                                    "command": ["true"],
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]},
                                    },
                                }
                            ],
                        }
                    },
                },
            }
            started = time.perf_counter()
            await client.create("configmaps", cm, ns)
            created = await client.create("jobs", job, ns)
            await client.patch(
                "configmaps",
                name,
                {
                    "metadata": {
                        "ownerReferences": [
                            {
                                "apiVersion": "batch/v1",
                                "kind": "Job",
                                "name": name,
                                "uid": created["metadata"]["uid"],
                            }
                        ]
                    }
                },
                ns,
            )
            if i >= 3:
                times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--size", type=int, default=1_000_000, help="notebook bytes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    nb = json.dumps(big_notebook(args.size)).encode()
    nb = json.dumps(big_notebook(2 * args.size - len(nb) - 2000)).encode()
    packed = len(gzip.compress(nb, 6))
    with bench_server({"profiles": PROFILES, "max_notebook_bytes": 1_000_000}) as bench:
        (bench.root / "big.ipynb").write_bytes(nb)
        submits = asyncio.run(measure_submits(bench.url, args.n))
        baseline = asyncio.run(measure_baseline(bench.cluster.user_kubeconfig, nb, args.n))
    figures = {
        "notebook_bytes": len(nb),
        "notebook_gzipped_bytes": packed,
        "submits": len(submits),
        "submit_p50_ms": round(statistics.median(submits) * 1000, 1),
        "submit_p95_ms": round(percentile(submits, 95) * 1000, 1),
        "bare_api_calls_p50_ms": round(statistics.median(baseline) * 1000, 1),
        "submit_vs_bare_api_calls": round(
            statistics.median(submits) / statistics.median(baseline), 2
        ),
    }
    report(figures, args.json, [("submit p50 < 150 ms", figures["submit_p50_ms"] < 150)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
