"""The code that runs inside the job and kernel pods, not in the Jupyter server.

* `runner`   - runs a notebook job's notebook with papermill and reports on stdout (job pod);
* `launcher` - puts the pod IP in the kernel's connection file, then execs the kernel (kernel pod).

These modules run under the image's Python, not the server's: Python >= 3.8 (see
docs/operators.md#images), so no newer syntax or library calls. They may import only the
standard library plus papermill and nbformat (the runner, with jupyter_client, which papermill
runs kernels with) or ipykernel (the launcher's kernel), because an image needs nothing of
jupyter-k8s: the server ships each file into the pod as source text (jobs/service.py,
kernels/service.py read it with importlib.resources) and never imports it. A unit test
(tests/unit/test_pod_package.py) holds every module here to these rules.
"""
