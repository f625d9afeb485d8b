"""Remote kernels in Kubernetes pods: provisioner, kernelspecs, launcher, reattach."""
