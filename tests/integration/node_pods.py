"""Pods for the tests of the real node (test_node_*.py)."""

from __future__ import annotations

from typing import Any


def restricted_pod(name: str, image: str, command: list[str]) -> dict[str, Any]:
    """A pod of `image` running `command` as uid 1000, which a namespace under Pod Security
    "restricted" admits; never restarted, stopped within a second."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": command,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
