"""A real node for the local cluster: kubelet + containerd + runc + CNI (experimental).

`jupyter k8s dev-cluster up --node containerd` runs this instead of the process node agent.
Each module has one job: build.py (binaries), prereqs.py (what the host must have),
containerd.py, cni.py, kubelet.py (configuration and processes), images.py (OCI images with
no registry), node.py (start and stop them together, and clean up after them).
"""
