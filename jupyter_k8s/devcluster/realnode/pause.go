// pause holds a pod's namespaces for as long as the pod lives. It is PID 1 of the pod
// sandbox: it reaps the zombies orphaned into it and exits cleanly on SIGINT or SIGTERM.
// The real node builds it (realnode/build.py) because no registry can serve
// registry.k8s.io/pause on these machines.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
