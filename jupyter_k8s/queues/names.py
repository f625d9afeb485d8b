"""Kueue's names as jobs and profiles carry them: the labels, and what a queue name may be."""

from __future__ import annotations

import re

#: The label that puts a Job (or a pod) in a LocalQueue, and the one that gives its priority.
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
#: Kueue's API group, and the group of its visibility API (positions in a queue).
GROUP = "kueue.x-k8s.io"
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VERSION = "v1beta2"

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_kueue_name(value: str) -> str:
    """A LocalQueue or WorkloadPriorityClass name as Kueue takes it in a label: a DNS-1123
    subdomain (what Kueue's webhook checks) of at most 63 characters (a label value)."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kueue name: lowercase letters, digits, '-' and '.', at most "
            "63, starting and ending with a letter or digit"
        )
    return value
