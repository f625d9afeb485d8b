"""Domain errors of jupyter-k8s that are not Kubernetes API errors.

Services raise these (or the `KubeError` family from `jupyter_k8s.k8s.client`); the REST
handlers turn them into HTTP answers in one place (`jupyter_k8s.handlers.map_error`), the CLI
into messages. Every message is meant for a person: say what is wrong and what to do.
"""

from __future__ import annotations


class JupyterK8sError(Exception):
    """Base class; `status` is the HTTP status the REST API answers with."""

    status = 500
    reason = "InternalError"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidRequest(JupyterK8sError):
    """The request does not make sense (bad field, unknown profile, ...)."""

    status = 400
    reason = "Invalid"


class TooLarge(JupyterK8sError):
    """Something the user sent is larger than the configured limit."""

    status = 413
    reason = "TooLarge"


class ValidationProblem(InvalidRequest):
    """A request field has a bad value; `field` names it (dotted path) so a UI can point at it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFoundProblem(JupyterK8sError):
    """The job, notebook or profile asked for does not exist (or is not the caller's)."""

    status = 404
    reason = "NotFound"


class ForbiddenProblem(JupyterK8sError):
    """The caller may not do this (another user's job, a path outside the server root)."""

    status = 403
    reason = "Forbidden"


class TooLargeProblem(TooLarge):
    """A notebook, its parameters or its executed output is over a size limit."""
