"""What a command that talks to the cluster sets up before it starts: logging, lean imports."""

from __future__ import annotations

import logging
import sys


def skip_slow_imports() -> None:
    """Keep jsonschema from compiling a grammar the CLI never uses.

    jupyter_server (imported for the JupyterK8s traits) imports jupyter_events, whose
    jsonschema imports rfc3987_syntax when installed: compiling its grammar takes seconds,
    for an "iri" format check the CLI never makes. Not imported, jsonschema skips it.
    """
    if "rfc3987_syntax" not in sys.modules:
        # None there makes `import rfc3987_syntax` fail (typeshed allows modules only).
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]


def setup_logging(verbose: int) -> None:
    """-v: jupyter_k8s's log on stderr (-vv: debug); else nothing of it."""
    logger = logging.getLogger("jupyter_k8s")
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    else:
        # The watch caches log retries as warnings: the CLI reports errors itself.
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
