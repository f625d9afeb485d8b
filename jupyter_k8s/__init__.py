"""jupyter-k8s: a Jupyter server extension and JupyterLab extension that put Kubernetes one
click from a notebook."""

from __future__ import annotations

from typing import Any

from .version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # Imported here so that `import jupyter_k8s` (CLI, magics, in-pod runner) stays cheap.
    from .app import JupyterK8s

    return [{"module": "jupyter_k8s.app", "app": JupyterK8s}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext jupyter_k8s`: the %k8s_submit magic (imported only when loaded)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-k8s"}]
