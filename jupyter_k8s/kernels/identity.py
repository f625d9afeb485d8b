"""Which Jupyter server holds a kernel pod: a server id that survives a restart of that server.

Two Jupyter servers can run with one owner in one namespace (two JupyterLabs of one login,
the default outside JupyterHub). The owner label and username annotation can't tell their
kernel pods apart, so every kernel pod also carries the id of the server that holds it
(`jupyter-k8s.io/server-id`); a server adopts or deletes only its own pods, and another
server's only once that server stopped renewing their heartbeat (see reattach.py).

The id must stay the same when *the same* server restarts (so that it reattaches its
kernels) and differ between servers that run at the same time. The choice:

* A server is the triple (host name, real path of its root directory, port). Two servers
  running at once on one host can't share a port; on two hosts (or two JupyterHub pods of one
  user, whose host names are their pod names) the host names differ; and a restart of one
  server (same root directory, same port: the JupyterLab default 8888, a JupyterHub
  single-user pod's fixed port) gives the same triple.
* The id itself is random (128 bits), made the first time a triple is seen and kept in the
  server's Jupyter data directory (`<data_dir>/jupyter_k8s/servers/<hash of the triple>`,
  mode 0600). Random rather than a hash of the triple, because host names repeat across
  machines (containers started with one fixed host name, two laptops called "localhost");
  two such servers share a home directory only when they are the same machine. The data
  directory and not the runtime directory: it is where a JupyterHub user's home volume keeps
  it across pod restarts, and runtime directories may be cleaned at boot.
* jupyter_server has no stable server identity of its own (its `jpserver-<pid>.json` changes
  with the pid, and the token may be random per start).

A server started on another port (`--port=0`, or port 8888 taken) or root directory is a new
server: the kernels of the old one become orphans once their heartbeat is older than the
grace period, and are then adopted like any orphan. Files not used for `PRUNE_DAYS` are
removed (their server's pods, if any, are long orphans by then).

A standalone client (papermill, nbclient) gets a random id per process
(`random_server_id`): its kernels never outlive it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from .objects import is_server_id

log = logging.getLogger("jupyter_k8s.kernels")

PRUNE_DAYS = 90


def random_server_id() -> str:
    """32 lowercase hex digits (what `is_server_id` accepts)."""
    return secrets.token_hex(16)


def server_key(hostname: str, root_dir: str, port: int) -> str:
    """The file name of a server's id: a hash of what makes it one server."""
    text = json.dumps([hostname, root_dir, int(port)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def persistent_server_id(
    data_dir: str | os.PathLike[str], hostname: str, root_dir: str, port: int
) -> str:
    """The id kept for (hostname, root_dir, port) under `data_dir`, made on first use.

    Safe against two processes making it at once (the file is created exclusively; the loser
    reads the winner's). An unreadable or corrupt file is replaced by a fresh id.
    """
    folder = Path(data_dir) / "jupyter_k8s" / "servers"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / server_key(hostname, root_dir, port)
    for _ in range(2):
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and is_server_id(data.get("id")):
                with contextlib.suppress(OSError):
                    os.utime(path)  # in use: not pruned
                return data["id"]
            path.unlink()  # corrupt: start again
        except FileNotFoundError:
            pass
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                path.unlink()
        server_id = random_server_id()
        record = {"id": server_id, "hostname": hostname, "root_dir": root_dir, "port": port}
        # Written whole to a file of our own, then linked into place (atomic, and refused if
        # the name exists): a reader never sees a half-written file, which it would take for
        # a corrupt one and replace, so that two processes would end with two ids.
        partial = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            os.link(partial, path)
        except FileExistsError:
            continue  # another process of this server made it first: read theirs
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
        _prune(folder, keep=path)
        return server_id
    raise OSError(f"cannot keep a server id in {path}")


def _prune(folder: Path, keep: Path) -> None:
    limit = time.time() - PRUNE_DAYS * 86400
    for old in folder.iterdir():
        with contextlib.suppress(OSError):
            if old != keep and old.stat().st_mtime < limit:
                old.unlink()


def find_server_app(obj: Any) -> Any | None:
    """The jupyter_server ServerApp above `obj` in its traitlets parent chain (a kernel
    manager, a provisioner), else the ServerApp singleton when one was made, else None."""
    try:
        from jupyter_server.serverapp import ServerApp
    except ImportError:  # pragma: no cover - jupyter_server is a dependency
        return None
    seen = 0
    while obj is not None and seen < 16:
        if isinstance(obj, ServerApp):
            return obj
        obj = getattr(obj, "parent", None)
        seen += 1
    return ServerApp.instance() if ServerApp.initialized() else None


def server_app_id(serverapp: Any) -> str:
    """The id of a running Jupyter server (see the module's docstring); a random one, with a
    warning, when its data directory can't hold it (then its kernels can't be reattached by
    its next start until they are orphans)."""
    root = os.path.realpath(str(getattr(serverapp, "root_dir", "") or os.getcwd()))
    port = int(getattr(serverapp, "port", 0) or 0)
    data_dir = getattr(serverapp, "data_dir", None)
    if not data_dir:
        from jupyter_core.paths import jupyter_data_dir

        data_dir = jupyter_data_dir()
    try:
        return persistent_server_id(data_dir, socket.gethostname(), root, port)
    except OSError as exc:
        log.warning(
            "jupyter-k8s: cannot keep this server's id in %s (%s): a restarted server will "
            "reattach its kernels only once they are orphaned",
            data_dir,
            exc,
        )
        return random_server_id()
