"""Kueue: queued work, and where it stands in its queue (docs/queues.md).

* `names`     - the labels that put work in a queue, and what a queue name may be;
* `models`    - `QueueInfo`, what a job (or kernel) shows of its queue;
* `status`    - the pure reading of a Workload, its place and its ClusterQueue into a QueueInfo;
* `discovery` - whether the cluster serves Kueue (cached), and the errors when it does not or
  a LocalQueue is missing;
* `cache`     - `QueueWatch`: watch-fed caches of Workloads, LocalQueues and ClusterQueues,
  and a poller of the visibility API while some of the user's work waits.

Nothing here knows jobs: a Workload is found by its owner (kind, name, uid), so the kernel
provisioner asks the same `QueueWatch.info_for("Pod", name, uid, queue)` as jobs ask it for
("Job", ...).
"""
