"""The local cluster (`jupyter k8s dev-cluster`). Light on purpose: the CLI imports it."""

#: Pods a node takes at once (the kubelet's maxPods default); `up --max-pods` changes it.
DEFAULT_MAX_PODS = 110
