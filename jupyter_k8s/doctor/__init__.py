"""`jupyter k8s doctor`: a checklist of what jupyter-k8s needs from a cluster, with fixes.

What it checks, in order (docs/doctor.md explains each check and its fix):

- which kubeconfig, context and namespace were chosen, and why;
- that the API server answers (`/version`), and who we are there;
- every verb of the shipped Role (jupyter_k8s/manifests/rbac.yaml, read from the file), each
  asked with a SelfSubjectAccessReview, plus the optional ones (list nodes for GPU totals,
  Kueue workloads when Kueue is installed);
- the namespace's Pod Security level and its ResourceQuotas (hard, used, what is left);
- the default image, resolved as jobs resolve it, and a short probe pod in that image that
  prints the Python version and whether papermill and ipykernel import, then listens on the
  first kernel port so that this process can check it reaches pod IPs as remote kernels need;
- the GPUs the nodes advertise.

The logic is plain async Python: pure functions turn the cluster's answers into `Check`s
(unit-tested without a cluster) and `run_doctor` makes the calls, concurrently where they
are independent. The CLI (`jupyter k8s doctor`) and the REST API (`GET /jupyter-k8s/doctor`)
both call `run_doctor`. Nothing here raises for cluster trouble: trouble is a finding.

One module per concern; callers import from the module that holds a name:

* `checks`      - `Check` (one line of the checklist), `DoctorReport`, the exit code, the text;
* `config`      - `DoctorSettings`, which kubeconfig, context and namespace, and why;
* `api`         - whether the API server answers, and who we are there;
* `permissions` - the shipped Role's verbs, asked by SelfSubjectAccessReview; nodes and Kueue;
* `namespace`   - the namespace's Pod Security level and its ResourceQuotas;
* `image`       - the default image, resolved as jobs resolve it;
* `probe`       - the probe pod: what it runs, its state, its report, and running it;
* `gpus`        - the GPUs the nodes advertise;
* `run`         - `run_doctor`: the calls to the cluster, and the checks in order.
"""
