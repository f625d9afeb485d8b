"""jupyter_k8s.heap: what it freezes is left out of full collections, and still freed."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest

from jupyter_k8s.heap import freeze_long_lived


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # the test process goes on with an ordinary heap


class Node:
    pass


def test_freezing_leaves_survivors_out_and_refcounting_still_frees(unfrozen, caplog):
    kept = [{"metadata": {"name": f"job-{i}"}} for i in range(1000)]
    with caplog.at_level(logging.INFO):
        frozen = freeze_long_lived(logging.getLogger("test"), "test")
    assert frozen >= 2000  # the list's dicts and their nested dicts at least
    assert "long-lived objects left out of garbage collection" in caplog.text
    # A frozen object dropped is freed at once, by reference counting.
    probe = Node()
    ref = weakref.ref(probe)
    gc.freeze()
    del probe
    assert ref() is None
    # Objects made after the freeze are collected as ever (a new cycle here).
    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    cycle = weakref.ref(a)
    del a, b
    gc.collect()
    assert cycle() is None
    assert len(kept) == 1000
