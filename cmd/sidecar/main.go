// Command sidecar is the probe injected into CNPG instance pods: it measures
// PostgreSQL's volumes and writes the pod's StorageObservation.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cnpg-storage-autoscaler sidecar: not implemented yet")
	os.Exit(1)
}
