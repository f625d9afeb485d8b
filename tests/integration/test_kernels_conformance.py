"""The remote kernel passes the jupyter_kernel_test conformance tests a local ipykernel passes.

The suite (kernel_conformance_case.py) runs twice in subprocesses, against `python3` (local)
and against `k8s-cpu` installed by `jupyter k8s kernelspec install`; every test the local
kernel passes must pass remotely too.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from kernels_support import install_cpu_kernelspec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CASE = Path(__file__).with_name("kernel_conformance_case.py")


def run_suite(kernel: str, env: dict[str, str], report: Path) -> dict[str, str]:
    """{test name: passed|failed|skipped} of the suite against `kernel`."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(CASE),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--junitxml={report}",
            "-o",
            "asyncio_mode=strict",
        ],
        env=dict(env, JK8S_TEST_KERNEL=kernel),
        capture_output=True,
        text=True,
        timeout=240,
    )
    results: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.{case.get('name')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            # The message's last lines say why (kept so that a CI failure explains itself).
            detail = (problem.get("message") or "") + "\n" + (problem.text or "")[-1500:]
            results[name] = "failed: " + detail.strip()
        elif case.find("skipped") is not None:
            results[name] = "skipped"
        else:
            results[name] = "passed"
    assert results, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def test_remote_kernel_passes_what_a_local_ipykernel_passes(
    dev_cluster, admin_config, namespace, tmp_path
):
    env, _ = install_cpu_kernelspec(dev_cluster, admin_config, namespace, tmp_path)
    local = run_suite("python3", env, tmp_path / "local.xml")
    remote = run_suite("k8s-cpu", env, tmp_path / "remote.xml")
    print("local:", local)
    print("remote:", remote)
    passed_locally = {name for name, result in local.items() if result == "passed"}
    assert len(passed_locally) >= 12
    missing = {name: remote.get(name) for name in passed_locally if remote.get(name) != "passed"}
    assert not missing, missing
