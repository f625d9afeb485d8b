"""Executed notebooks too large for the pod log, handed over by the pod itself.

A job's output comes back through the pod log as a frame (see runlog.py) when it fits in a
few MiB. A larger one would not survive the kubelet's log rotation (10 MiB files; the log API
serves only the newest) for any reader that was not following at that moment, e.g. a server
restarted meanwhile. So the runner holds it instead (pod/runner.py's hold_output): it serves
the gzipped notebook on the pod's IP, says so with an "output_held" marker, and waits until
the server has fetched it and confirmed (POST /done), or until its hold time is up.

The fetch is authorized by a per-job token: HMAC-SHA256 of the job's namespace and name
under a key kept in the user's Jupyter data directory (0600). The token travels to the pod in
the job's input ConfigMap, beside the notebook it runs: whoever can read that can read the
job's log too, which the token grants no more than. A schedule's runs (jobs/schedules.py)
all mount the one input ConfigMap of their CronJob, made before any run has a name: their
token is the HMAC of the namespace and the *schedule's* name, shared by its runs, and the
server derives it from a run's schedule (objects.schedule_of). A server that restarts
derives the same token from the same key, so it can still fetch what its previous run left
held; a server with another data directory (another machine) cannot, and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import aiohttp

from .runlog import inflate_verified

log = logging.getLogger(__name__)

#: The port the runner serves a held output on (its pod has its own IP).
PORT = 52790
KEY_FILE = "jupyter-k8s-handover.key"
#: Seconds a fetch may stay silent, and may take in all.
READ_TIMEOUT = 60.0
TOTAL_TIMEOUT = 900.0


def handover_key(data_dir: str | os.PathLike[str]) -> bytes:
    """The key in `data_dir`, made (0600, 32 random bytes) the first time."""
    path = Path(data_dir) / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(fresh)
    return fresh


def handover_token(key: bytes, namespace: str, name: str) -> str:
    return hmac.new(key, f"{namespace}/{name}".encode(), hashlib.sha256).hexdigest()


class HandoverError(Exception):
    """The held output could not be fetched or is not what the runner announced."""


def held_size(event: dict[str, Any], limit: int) -> tuple[int, str, int, int]:
    """(bytes, sha256, compressed bytes, port) of an "output_held" marker, checked: the
    marker comes from the pod's log, which the pod's user could have written."""
    try:
        size, digest = int(event["bytes"]), str(event["sha256"])
        packed, port = int(event["compressed"]), int(event["port"])
    except (KeyError, TypeError, ValueError) as exc:
        raise HandoverError(f"malformed output_held marker: {exc}") from None
    if not (0 <= size <= limit):
        raise HandoverError(f"the executed notebook is {size} bytes, over the limit of {limit}")
    if not (0 < packed <= size + size // 100 + 1024):  # gzip never grows data by more
        raise HandoverError(f"implausible compressed size {packed} for {size} bytes")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise HandoverError("malformed sha256 in the output_held marker")
    if not (1 <= port <= 65535):
        raise HandoverError(f"invalid port {port} in the output_held marker")
    return size, digest, packed, port


def inflate(packed: bytes, size: int, digest: str) -> bytes:
    """The notebook from its gzip bytes, never inflating more than announced (CPU work:
    run it in a thread)."""
    try:
        return inflate_verified(packed, size, digest, "held output", "the runner")
    except ValueError as exc:
        raise HandoverError(str(exc)) from None


async def fetch_held_output(ip: str, event: dict[str, Any], token: str, limit: int) -> bytes:
    """Fetch, verify and confirm a held output; raises HandoverError."""
    size, digest, packed_size, port = held_size(event, limit)
    base = f"http://{ip}:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, sock_connect=10, sock_read=READ_TIMEOUT)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"{base}/output", headers=headers) as resp:
                if resp.status == 403:
                    raise HandoverError(
                        "the pod refused this server's hand-over token (was the job submitted "
                        "from another machine or Jupyter data directory?)"
                    )
                if resp.status != 200:
                    raise HandoverError(f"the pod answered {resp.status} for the output")
                chunks, received = [], 0
                async for chunk in resp.content.iter_chunked(1 << 20):
                    received += len(chunk)
                    if received > packed_size:
                        break  # more than announced: refused below, not read further
                    chunks.append(chunk)
                packed = b"".join(chunks)
                if received != packed_size:
                    raise HandoverError(
                        f"the pod sent {received}+ bytes, it announced {packed_size}"
                    )
            data = await asyncio.to_thread(inflate, packed, size, digest)
            async with session.post(f"{base}/done", headers=headers) as resp:
                if resp.status != 204:
                    log.warning("the pod at %s answered %s to /done", ip, resp.status)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise HandoverError(f"the held output could not be fetched from {base}: {exc}") from None
    return data
