"""Notebook jobs: a notebook run papermill-style as a plain `batch/v1` Job.

The pure core lives here and knows no tornado and no cluster:

* `models`   - the request and status models of the REST API (pydantic);
* `notebook` - reading a notebook and its `parameters` cell;
* `objects`  - building the Job and its input ConfigMap (dicts, tested against golden dicts);
* `status`   - turning a Job, its pods and events into a `JobInfo` with the real reason;
* `runlog`   - reading the runner's progress markers and framed output out of the pod log.

The runner itself, the program that runs inside the pod, is `jupyter_k8s.pod.runner`.
"""
