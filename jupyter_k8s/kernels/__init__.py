"""Remote kernels in Kubernetes pods: provisioner, kernelspecs, reattach.

The launcher that starts the kernel inside its pod is `jupyter_k8s.pod.launcher`.
"""
