"""The CLI's one error boundary: which errors are reported, as what line and exit code.

Every command runs inside `guarded` (called once, by `main`): an error the package expects
(a `Problem` of jupyter_k8s.errors, the Kubernetes client's errors among them; a bad
argument value or configuration; a file that can't be read or written; a dev cluster that
won't start) becomes one line `error: ...` on stderr and an exit code; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..jobs.models import JobInfo

EXIT_OK = 0
EXIT_FAILED = 1  # the job failed or was cancelled; or another error
EXIT_USAGE = 2  # bad arguments, invalid request or configuration, no such job or notebook
EXIT_CLUSTER = 3  # the cluster is unreachable or said no (forbidden, unauthorized)
EXIT_INTERRUPTED = 130  # Ctrl+C, as a shell reports SIGINT


def error(message: str) -> None:
    """A line for the person at the terminal (stderr: stdout holds what scripts read)."""
    print(message, file=sys.stderr, flush=True)


def _reported_types() -> tuple[type[BaseException], ...]:
    # Imported on the way out only: a command pays for the modules it uses, not for these.
    from ..devcluster.build import BuildError
    from ..devcluster.controlplane import ClusterError
    from ..devcluster.kueue import KueueError
    from ..devcluster.realnode.errors import RealNodeError
    from ..errors import Problem
    from ..profiles import ProfileError

    return (
        Problem,
        argparse.ArgumentTypeError,
        ProfileError,
        BuildError,
        ClusterError,
        KueueError,
        RealNodeError,
        OSError,  # TimeoutError too; writing an output file, reading a notebook
    )


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error: 2 request/usage, 3 cluster unreachable or forbidden, else 1.

    A problem jupyter-k8s found is the request's (2), unless it is a refusal (3); the
    Kubernetes API's own answers go by their status: no answer or credentials refused (3), a
    request it could not take (2), anything else, a conflict or a server error (1).
    """
    from ..errors import ForbiddenProblem, Problem
    from ..k8s.client import KubeError
    from ..profiles import ProfileError

    if isinstance(exc, ForbiddenProblem):  # ours and the API server's 403
        return EXIT_CLUSTER
    if isinstance(exc, KubeError):
        if exc.status in (0, 401, 403):
            return EXIT_CLUSTER
        if exc.status in (400, 404, 422):
            return EXIT_USAGE
        return EXIT_FAILED
    if isinstance(exc, Problem | argparse.ArgumentTypeError | ProfileError):
        return EXIT_USAGE
    return EXIT_FAILED


def exit_status(info: JobInfo) -> int:
    """The exit code of a finished job (a JobInfo): 0 when it succeeded and its executed
    notebook is there; 1 otherwise."""
    from ..jobs.models import JobPhase

    if info.phase != JobPhase.SUCCEEDED:
        return EXIT_FAILED
    return EXIT_FAILED if info.output_state == "error" else EXIT_OK


def guarded(body: Callable[[], int], interrupted: Callable[[], None] | None = None) -> int:
    """Run a command; its expected errors become `error: ...` and an exit code.

    `interrupted` says what Ctrl+C leaves behind (a job goes on running) before exit 130.
    """
    try:
        return body()
    except KeyboardInterrupt:
        if interrupted is not None:
            interrupted()
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK  # the reader went away (`jupyter k8s logs j | head`): nothing to say
    except Exception as exc:
        if not isinstance(exc, _reported_types()):
            raise
        error(f"error: {exc}")
        return exit_code_for(exc)
