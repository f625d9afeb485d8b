"""What several test modules build the same way: notebooks, and golden files to compare with.

A plain module, imported by its base name (`from builders import notebook`) from tests/unit
and tests/integration alike: pytest puts tests/ on sys.path for tests/conftest.py (there are
no packages here, see tests/unit/test_layout.py), as it does for tests/docs_examples.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat

#: The kernelspec of most test notebooks: the default kernel, as JupyterLab writes it.
PYTHON3 = {"display_name": "Python 3", "language": "python", "name": "python3"}

GOLDEN = Path(__file__).parent / "unit" / "golden"
#: Set to rewrite the golden files from what the code builds now (then read their diff).
UPDATE_GOLDEN = "JUPYTER_K8S_UPDATE_GOLDEN"


# -- notebooks ----------------------------------------------------------------------------------


def code_cell(source: str, cell_id: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """An unexecuted code cell of nbformat 4.5 (which requires the id)."""
    return nbformat.from_dict(
        {
            "cell_type": "code",
            "id": cell_id,
            "execution_count": None,
            "metadata": {"tags": tags} if tags else {},
            "outputs": [],
            "source": source,
        }
    )


def notebook(
    *sources: str, parameters: str | None = None, kernelspec: dict[str, str] | None = PYTHON3
) -> nbformat.NotebookNode:
    """A valid nbformat 4.5 notebook: a cell tagged "parameters" holding `parameters` (when
    given), then one code cell per source.

    `kernelspec` None leaves the notebook without kernel metadata (what the server must guess
    from). A NotebookNode: a dict (JSON as is) that also reads as `nb.cells[0].metadata`.
    Cell ids are fixed (cell-0, cell-1, ...) so that two builds are equal.
    """
    cells = [] if parameters is None else [(parameters, ["parameters"])]
    cells += [(source, None) for source in sources]
    metadata: dict[str, Any] = {}
    if kernelspec is not None:
        metadata["kernelspec"] = dict(kernelspec)
        if kernelspec.get("language"):
            metadata["language_info"] = {"name": kernelspec["language"]}
    return nbformat.from_dict(
        {
            "cells": [
                code_cell(source, f"cell-{i}", tags) for i, (source, tags) in enumerate(cells)
            ],
            "metadata": metadata,
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def write_notebook(path: Path, nb: dict[str, Any]) -> Path:
    """`nb` as JSON at `path` (its folders made); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


# -- golden files -------------------------------------------------------------------------------


def golden(name: str, actual: dict[str, Any]) -> dict[str, Any]:
    """The golden dict tests/unit/golden/`name`, to compare `actual` with.

    With JUPYTER_K8S_UPDATE_GOLDEN=1 in the environment the file is first rewritten from
    `actual` (sorted keys, so that its diff shows only real changes).
    """
    path = GOLDEN / name
    if os.environ.get(UPDATE_GOLDEN):
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    return json.loads(path.read_text())
