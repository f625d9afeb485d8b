"""The domain errors of jupyter-k8s: one family, `Problem`, one class per kind of problem.

Services raise these and nothing else. Errors of the Kubernetes API become members of the
family where they arise, in the client adapter (`jupyter_k8s.k8s.client`: `NotFound` is a
`NotFoundProblem`, `Forbidden` a `ForbiddenProblem`, ...), so a service catches a kind
whoever found it. Each boundary maps the family in one place: the REST handlers to HTTP
answers (`jupyter_k8s.handlers.map_error`), the CLI to exit codes, the kernel provisioner to
the HTTP errors jupyter_server passes on (`jupyter_k8s.kernels.start_error`).

Every message is meant for a person: say what is wrong and what to do; never a secret.
"""

from __future__ import annotations


class Problem(Exception):
    """Something went wrong that a person can act on.

    `message` says what (also `str()`), `reason` is a machine-readable word (`NotFound`,
    `Forbidden`, a Kubernetes reason...). `status` is the HTTP status that says what went
    wrong: for a problem jupyter-k8s found, the one the REST API answers with; for an error of
    the Kubernetes API, the API server's own (0: no answer). `http_status` is always the one
    the REST API answers with.
    """

    status = http_status = 500
    reason = "InternalError"

    def __init__(self, message: str, reason: str | None = None):
        # Not super().__init__: a subclass may also be a tornado HTTPError (kernels), whose
        # __init__ takes other arguments.
        Exception.__init__(self, message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return self.message

    @property
    def public_message(self) -> str:
        """The message as a client of the REST API reads it (with where it came from, where
        that is not obvious)."""
        return self.message

    @property
    def public_reason(self) -> str:
        """The reason as the REST API gives it: this one's, else its kind's."""
        return self.reason or type(self).reason


class InvalidRequest(Problem):
    """The request does not make sense (bad field, unknown profile, ...)."""

    status = http_status = 400
    reason = "Invalid"


class ValidationProblem(InvalidRequest):
    """A request field has a bad value; `field` names it (dotted path) so a UI can point at it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ForbiddenProblem(Problem):
    """The caller may not do this (another user's job, a path outside the server root)."""

    status = http_status = 403
    reason = "Forbidden"


class QuotaProblem(ForbiddenProblem):
    """A quota (a Kubernetes ResourceQuota) refused what was asked for."""

    reason = "ExceededQuota"


class NotFoundProblem(Problem):
    """The job, notebook or profile asked for does not exist (or is not the caller's)."""

    status = http_status = 404
    reason = "NotFound"


class ConflictProblem(Problem):
    """It exists already, or it changed meanwhile."""

    status = http_status = 409
    reason = "Conflict"


class TooLarge(Problem):
    """Something the user sent is larger than the configured limit."""

    status = http_status = 413
    reason = "TooLarge"


class TooLargeProblem(TooLarge):
    """A notebook, its parameters or its executed output is over a size limit."""


class UnavailableProblem(Problem):
    """The cluster cannot be had right now (no answer, refused credentials, overloaded)."""

    status = http_status = 503
    reason = "Unreachable"


class KernelStartProblem(Problem):
    """A remote kernel could not start; the message says why, `reason` is the Kubernetes one
    (ErrImagePull, Unschedulable...) or ours (StartTimeout, UnknownProfile...)."""

    #: The status of a failed start, by reason (others: 500).
    STATUS_BY_REASON = {
        "UnknownProfile": 400,
        "NoImage": 400,
        "Invalid": 400,
        "Forbidden": 403,
        "ExceededQuota": 403,
        "Unreachable": 503,
        "StartTimeout": 504,
        # A profile's Kueue queue the cluster can't take (docs/queues.md), as for jobs.
        "NoKueue": 409,
        "NoLocalQueue": 409,
        "NoPriorityClass": 409,
    }

    def __init__(self, message: str, reason: str = "KernelStartFailed"):
        super().__init__(message, reason)
        self.status = self.http_status = self.STATUS_BY_REASON.get(reason, 500)
