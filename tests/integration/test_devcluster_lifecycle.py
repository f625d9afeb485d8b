"""`up` / `down` of a second, private cluster: nothing left behind, warm start under 30 s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clusters import unavailable

from jupyter_k8s.devcluster.build import Versions, find_binaries
from jupyter_k8s.devcluster.controlplane import DevCluster, pid_alive

pytestmark = pytest.mark.integration


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{entry.name}: {cmd[:120]}")
    return found


def test_up_down_leaves_nothing_and_warm_up_is_fast(tmp_path: Path):
    if find_binaries(Versions()) is None:
        unavailable("control-plane binaries are not built (run `jupyter k8s dev-cluster build`)")
    state = tmp_path / "lifecycle"
    cli = [sys.executable, "-m", "jupyter_k8s.cli", "dev-cluster", "--state-dir", str(state)]
    timings = []
    for _ in range(2):
        started = time.monotonic()
        up = subprocess.run([*cli, "up", "--wait"], capture_output=True, text=True, timeout=120)
        timings.append(time.monotonic() - started)
        assert up.returncode == 0, up.stderr
        assert up.stdout.strip() == f"export KUBECONFIG={state / 'user.kubeconfig'}"
        status = subprocess.run([*cli, "status", "--json"], capture_output=True, text=True)
        assert status.returncode == 0, status.stdout + status.stderr
        pids = [p["pid"] for p in DevCluster(state).status()["processes"].values()]
        assert len(pids) == 5 and all(pid_alive(p) for p in pids)

        down = subprocess.run([*cli, "down"], capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        assert not any(pid_alive(p) for p in pids)
        assert _processes_mentioning(str(state)) == []
        assert subprocess.run([*cli, "status"], capture_output=True).returncode != 0
    # The second `up` reused the cached binaries (no build) and was Ready in under 30 s.
    assert timings[1] < 30, timings
