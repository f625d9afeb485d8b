"""The version of jupyter-k8s, from the installed package's metadata.

A module of its own so that modules the package's entry points import (the server extension)
can read it without importing the package's `__init__` back.
"""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("jupyter-k8s")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
