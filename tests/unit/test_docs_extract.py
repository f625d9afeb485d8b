"""How examples are found in the docs (tests/docs_examples.py)."""

from __future__ import annotations

from pathlib import Path

from docs_examples import all_examples, console_commands, extract

DOC = """# Title

```bash
jupyter k8s jobs
```

<!-- docs-test: skip (a server that never exits) -->
```bash
scripts/lab
```

```console
$ jupyter k8s submit a.ipynb \\
    --wait
a-123  Succeeded
$ papermill -k k8s-cpu a.ipynb b.ipynb
```

```python
# jupyter_server_config.py
c.JupyterK8s.namespace = "x"
```

```python
%load_ext jupyter_k8s
```

```python
print("plain")
```

```text
GET /jupyter-k8s/jobs
```

```
layout
```
"""


def test_blocks_are_found_with_their_kind_line_and_skip_reason():
    found = extract(DOC, "doc.md")
    assert [(ex.line, ex.kind, ex.skip) for ex in found] == [
        (3, "shell", None),
        (8, "shell", "a server that never exits"),
        (12, "console", None),
        (19, "config", None),
        (24, "ipython", None),
        (28, "python", None),
    ]
    assert found[0].code == "jupyter k8s jobs\n"
    assert found[0].id == "doc.md:3"


def test_console_commands_are_the_dollar_lines_with_continuations():
    code = extract(DOC, "doc.md")[2].code
    assert console_commands(code) == [
        "jupyter k8s submit a.ipynb \n    --wait",
        "papermill -k k8s-cpu a.ipynb b.ipynb",
    ]


def test_the_real_docs_have_runnable_examples():
    root = Path(__file__).resolve().parents[2]
    examples = all_examples(root)
    assert sum(1 for ex in examples if ex.skip is None) >= 6
