"""REST API of jupyter-k8s, under `{base_url}/jupyter-k8s/`.

Handlers only translate HTTP: they call the services (plain async Python) and turn domain
errors into HTTP answers through one mapper, `map_error`. Every answer is JSON; an error is
`{"message": ..., "reason": ...}`, never a traceback.
"""

from __future__ import annotations

import json
import logging
from http.client import responses
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from .errors import JupyterK8sError
from .k8s.client import Conflict, Forbidden, Gone, KubeError, NotFound, Unreachable
from .k8s.cluster import ClusterService

AUTH_RESOURCE = "jupyter_k8s"
API_PREFIX = "jupyter-k8s"

_log = logging.getLogger(__name__)


def _validation_message(exc: Exception) -> str:
    """A short message out of a pydantic ValidationError (first few problems)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)


def map_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Turn an exception into (HTTP status, JSON body). The one place that does it."""
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover
        ValidationError = ()  # type: ignore[assignment,misc]  # noqa: N806

    if isinstance(exc, tornado.web.HTTPError):
        message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        reason = exc.reason or responses.get(exc.status_code, "")
        return exc.status_code, {"message": message or reason, "reason": reason}
    if isinstance(exc, JupyterK8sError):
        return exc.status, {"message": exc.message, "reason": exc.reason}
    if isinstance(exc, ValidationError):
        return 400, {"message": _validation_message(exc), "reason": "Invalid"}
    if isinstance(exc, json.JSONDecodeError):
        return 400, {"message": f"the request body is not valid JSON: {exc}", "reason": "Invalid"}
    if isinstance(exc, Unreachable):
        return 503, {"message": exc.message, "reason": "Unreachable"}
    if isinstance(exc, Forbidden):
        return 403, {
            "message": f"Kubernetes refused: {exc.message}",
            "reason": exc.reason or "Forbidden",
        }
    if isinstance(exc, NotFound):
        return 404, {"message": exc.message, "reason": exc.reason or "NotFound"}
    if isinstance(exc, Conflict):
        return 409, {"message": exc.message, "reason": exc.reason or "Conflict"}
    if isinstance(exc, Gone):
        return 503, {"message": exc.message, "reason": "Gone"}
    if isinstance(exc, KubeError):
        if exc.status == 422:  # the API server rejected an object built from the request
            return 400, {"message": exc.message, "reason": exc.reason or "Invalid"}
        if exc.status == 413:
            return 413, {"message": exc.message, "reason": "TooLarge"}
        if exc.status == 401:
            return 503, {
                "message": f"the Kubernetes API rejected the server's credentials: {exc.message}",
                "reason": "Unauthorized",
            }
        if exc.status == 429:
            return 503, {"message": exc.message, "reason": "TooManyRequests"}
        return 502, {
            "message": f"the Kubernetes API answered {exc.status}: {exc.message}",
            "reason": exc.reason or "KubernetesError",
        }
    return 500, {
        "message": "internal error in jupyter-k8s; the Jupyter server log has the details",
        "reason": "InternalError",
    }


class K8sAPIHandler(ExtensionHandlerMixin, APIHandler):
    """Base of the jupyter-k8s handlers: JSON errors from `map_error`, services at hand."""

    auth_resource = AUTH_RESOURCE

    @property
    def cluster(self) -> ClusterService:
        from .app import CLUSTER_SETTING

        return self.settings[CLUSTER_SETTING]

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info and exc_info[1] is not None:
            status, body = map_error(exc_info[1])
        else:
            reason = responses.get(status_code, "Unknown HTTP Error")
            status, body = status_code, {"message": reason, "reason": reason}
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Expected domain errors are one line in the log; only real bugs get a traceback.
        if isinstance(value, KubeError | JupyterK8sError):
            status, body = map_error(value)
            self.log.warning(
                "%s %s -> %d %s", self.request.method, self.request.path, status, body["message"]
            )
            return
        super().log_exception(typ, value, tb)


class ClusterHandler(K8sAPIHandler):
    """GET: what the cluster looks like from this server (never fails for cluster trouble)."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.cluster.info())


default_handlers: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (rf"/{API_PREFIX}/cluster", ClusterHandler),
]
