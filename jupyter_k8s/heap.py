"""The garbage collector's pauses, kept short in a long-running server.

A full collection walks every object the collector tracks. After start-up most of them are
the server's own (modules, classes, functions, jupyter_server's and JupyterLab's settings:
~200,000 objects, ~60 ms a pass on these machines) and the first listing of the watch caches;
they live as long as the process. `gc.freeze()` moves them to the permanent generation, which
no collection walks, so a full collection in the event loop's thread costs what the objects
made since then cost. Frozen objects are still freed by reference counting when dropped
(the caches' dicts are, as watch events replace them); only a reference cycle that includes
one of them would never be collected, which is why this runs once after start-up and once
after the first listing, not periodically.
"""

from __future__ import annotations

import gc
import logging
import time


def freeze_long_lived(log: logging.Logger | logging.LoggerAdapter, why: str) -> int:
    """Collect, then freeze what survived; returns how many objects were frozen."""
    started = time.perf_counter()
    gc.collect()
    before = gc.get_freeze_count()
    gc.freeze()
    frozen = gc.get_freeze_count() - before
    log.info(
        "jupyter-k8s: %s: %d long-lived objects left out of garbage collection (%.0f ms)",
        why,
        frozen,
        (time.perf_counter() - started) * 1000,
    )
    return frozen
