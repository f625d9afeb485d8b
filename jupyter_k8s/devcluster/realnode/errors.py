"""The one error type of the real node: its message names what is missing and the fix."""

from __future__ import annotations


class RealNodeError(RuntimeError):
    """The real node cannot be built or started; the CLI prints the message, no traceback."""
