"""The server's stamp on an executed notebook written in place (shared staging) keeps the
file's owner and mode: the pod wrote it as uid 1000, it stays uid 1000's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_k8s.files import write_atomic
from jupyter_k8s.jobs.stamping import keep_ownership


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_a_rewritten_file_keeps_its_owner_and_mode(tmp_path: Path):
    target = tmp_path / "nb.abc123.ipynb"
    target.write_text("{}")
    os.chown(target, 1000, 1234)
    target.chmod(0o664)
    was = target.stat()
    write_atomic(target, b'{"stamped": true}')
    assert (target.stat().st_uid, target.stat().st_mode & 0o777) == (0, 0o644)  # the rename's
    keep_ownership(target, was)
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1234, 0o664)
    assert target.read_text() == '{"stamped": true}'


def test_the_servers_own_file_keeps_its_mode(tmp_path: Path):
    target = tmp_path / "nb.ipynb"
    target.write_text("{}")
    target.chmod(0o600)
    was = target.stat()
    write_atomic(target, b"{}")
    keep_ownership(target, was)
    assert target.stat().st_mode & 0o7777 == 0o600
