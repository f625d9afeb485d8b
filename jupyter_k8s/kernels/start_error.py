"""A failed kernel start as jupyter_server wants it: the one place kernels meet tornado.

jupyter_server passes only tornado HTTPErrors on to its REST clients (POST /api/kernels
answers {"message": ...}; any other error is "Unhandled error"), so the provisioner, which
jupyter_server calls, raises `KernelStartError`: the domain's KernelStartProblem (same
message, reason and status) that is also an HTTPError. The KernelService raises the plain
problem; the provisioner turns it into this one (`from_problem`).
"""

from __future__ import annotations

from tornado.web import HTTPError

from ..errors import KernelStartProblem


class KernelStartError(KernelStartProblem, HTTPError):
    """A kernel could not start; the message says why (with the Kubernetes reason)."""

    reason: str  # the problem's (never None), where HTTPError's may be

    def __init__(self, message: str, reason: str = "KernelStartFailed"):
        KernelStartProblem.__init__(self, message, reason)
        HTTPError.__init__(self, self.http_status, message, reason=reason)
        # HTTPError's reason is the HTTP reason phrase: keep ours as the Kubernetes one.
        self.reason = reason

    @classmethod
    def from_problem(cls, problem: KernelStartProblem) -> KernelStartError:
        return cls(problem.message, problem.reason)

    def __str__(self) -> str:
        return self.message
