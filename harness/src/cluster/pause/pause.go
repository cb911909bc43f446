// The pause program of the test cluster's sandbox image (each pod's first container holds the
// pod's namespaces). Built static by scripts/install-tools.sh cluster into .tools/bin/pause and
// put into an image FROM scratch by harness/src/cluster/images.ts. It does nothing but wait: it
// exits on SIGINT or SIGTERM and reaps any child that a shared PID namespace hands it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s == syscall.SIGCHLD {
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
